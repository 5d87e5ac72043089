package watch

import (
	"context"
	"sync"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
)

// link follows the client's connection to etcd outside the daemon's loop,
// so that health tells the truth even while a cycle runs: a connection
// down for longer than the grace is reported lost at once (Metrics), and
// back as soon as it is. The loop learns of each change on changes, to log
// it and to hold cycles back while etcd is gone.
type link struct {
	grace   time.Duration
	metrics *Metrics
	changes chan struct{} // holds a token when down changed

	mu    sync.Mutex
	down  bool
	timer *time.Timer
	gen   int // of the grace timer: a stopped one that fires anyway is ignored
	done  bool
}

// lostConnection is why health is down while the connection is.
const lostConnection = "lost the connection to etcd; no file is touched until it is back"

func newLink(ctx context.Context, cli *etcd.Client, grace time.Duration, m *Metrics) *link {
	l := &link{grace: grace, metrics: m, changes: make(chan struct{}, 1)}
	cli.MonitorConnection(ctx, l.set)
	context.AfterFunc(ctx, l.stop)
	return l
}

// set is the connection's readiness, as the client reports it.
func (l *link) set(ready bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	if !ready {
		if l.timer == nil && !l.down {
			l.gen++
			gen := l.gen
			l.timer = time.AfterFunc(l.grace, func() { l.expire(gen) })
		}
		return
	}
	l.stopTimer()
	if l.down {
		l.down = false
		l.metrics.setConnected(true, "")
		l.signal()
	}
}

// expire marks the connection lost once the grace has passed.
func (l *link) expire(gen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || gen != l.gen || l.timer == nil {
		return
	}
	l.timer = nil
	l.down = true
	l.metrics.setConnected(false, lostConnection)
	l.signal()
}

// isDown reports whether the connection is lost.
func (l *link) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// stop ends the link with its session.
func (l *link) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	l.stopTimer()
}

func (l *link) stopTimer() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}

func (l *link) signal() {
	select {
	case l.changes <- struct{}{}:
	default:
	}
}

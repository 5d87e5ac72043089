package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// stop is what following a watch stream ends in.
type stop int

const (
	stopDone       stop = iota + 1 // ctx ended
	stopResnapshot                 // compaction, resync, new configuration, a range that could not be watched
	stopRewatch                    // the watch failed; resume it on this client
	stopReconnect                  // the client looks dead
)

// halt is why following a watch stream ends: what comes next, and the
// error that says why (nil when ctx ended).
type halt struct {
	next stop
	err  error
}

var (
	errStuck     = errors.New("etcd did not answer a progress request on the watch stream")
	errCompacted = errors.New("revision compacted")
	errOtherEtcd = errors.New("another etcd answers")
)

// follow watches the snapshot's spans on one stream and runs cycles until
// something needs a new snapshot, watch or client.
func (d *daemon) follow(ctx context.Context, cli *etcd.Client) halt {
	l := d.newWatchLoop(ctx, cli)
	defer l.close()
	return l.run(ctx)
}

// watchLoop is one watch stream and what proves it alive, followed until
// it halts. It keeps the daemon's snapshot current from the stream, and
// runs the cycles that fall due between the stream's answers.
type watchLoop struct {
	d   *daemon
	cli *etcd.Client
	s   *etcd.Stream
	// ready signals that the stream holds answers; nil once it closed.
	ready <-chan struct{}
	// live proves the stream alive; only a stream that watches something
	// can.
	live *liveness
	// resync ends the loop for the periodic full snapshot; wake ends a
	// wait for the next due cycle.
	resync, wake *time.Timer
	// resnapshot fires some time after a key range could not be watched:
	// a new snapshot tries it again.
	resnapshot <-chan time.Time
	// reported fires when a fleet report waiting for the stream is to be
	// looked at again.
	reported *time.Timer
}

func (d *daemon) newWatchLoop(ctx context.Context, cli *etcd.Client) *watchLoop {
	s := cli.Watch(ctx, d.snap.Spans, d.o.Metrics.received)
	return &watchLoop{
		d: d, cli: cli, s: s, ready: s.Ready(),
		live:     newLiveness(d.o.ProgressInterval, d.o.ProgressTimeout, watching(d.snap.Spans)),
		resync:   time.NewTimer(d.o.Resync),
		wake:     time.NewTimer(time.Hour),
		reported: time.NewTimer(time.Hour),
	}
}

func (l *watchLoop) close() {
	l.s.Close()
	l.live.stop()
	l.resync.Stop()
	l.wake.Stop()
	l.reported.Stop()
}

// run follows the stream: it runs the cycles that are due, and between
// them waits for the stream, the timers, the connection and reloads.
func (l *watchLoop) run(ctx context.Context) halt {
	d := l.d
	if !d.disconnected {
		d.o.Metrics.setConnected(true, "")
	}
	for {
		if !d.disconnected {
			due := d.next()
			if !due.IsZero() && !due.After(time.Now()) {
				// Everything that arrived until now goes into the cycle.
				if t := l.take(); t.halt != nil {
					return *t.halt
				}
				d.runDue(ctx)
				continue
			}
			l.wakeAt(due)
			if at := l.report(); !at.IsZero() {
				l.reported.Reset(time.Until(at))
			}
		}
		select {
		case <-ctx.Done():
			return halt{next: stopDone}
		case <-l.ready:
			if t := l.take(); t.halt != nil {
				return *t.halt
			}
		case <-l.wake.C:
		case <-l.reported.C:
		case <-d.fleetLost():
			return halt{stopReconnect, errors.New("the fleet lease could not be renewed")}
		case <-l.live.timer.C:
			if h := l.checkLive(); h != nil {
				return *h
			}
		case <-d.link.changes:
			d.followLink()
		case <-l.resnapshot:
			return halt{stopResnapshot, errors.New("some key ranges could not be watched")}
		case <-l.resync.C:
			return halt{stopResnapshot, errors.New("periodic resync")}
		case <-d.o.Reload:
			if d.reload() {
				return halt{stopResnapshot, errors.New("configuration reloaded")}
			}
		}
	}
}

// wakeAt sets the wake timer for the next due cycle (zero: none): while
// cycles are held back, it looks at the state file again every second.
func (l *watchLoop) wakeAt(due time.Time) {
	switch {
	case due.IsZero():
	case time.Now().Before(l.d.blockedUntil):
		l.wake.Reset(min(time.Until(due), time.Second))
	default:
		l.wake.Reset(time.Until(due))
	}
}

// taken is what one look at the stream found: whether etcd said anything,
// and, when following must end, why.
type taken struct {
	heard bool
	halt  *halt
}

// take applies what arrived on the stream to the snapshot.
func (l *watchLoop) take() taken {
	d := l.d
	bs, open := l.s.Take()
	if len(bs) > 0 {
		l.live.heard()
	}
	for _, b := range bs {
		if h := d.take(b); h != nil {
			return taken{heard: true, halt: h}
		}
	}
	if !open {
		l.ready = nil
		l.live.stop()
		if len(d.failing) == 0 {
			return taken{heard: true, halt: &halt{stopRewatch, errors.New("the watch stream closed")}}
		}
	}
	if len(d.failing) > 0 && l.resnapshot == nil {
		l.resnapshot = time.After(jitter(d.o.BackoffMax))
	}
	return taken{heard: len(bs) > 0}
}

// checkLive runs when the stream stayed silent for the liveness interval:
// the first time it asks etcd for progress, the second it calls the
// client dead.
func (l *watchLoop) checkLive() *halt {
	// An answer may be waiting behind a long cycle: take it first.
	t := l.take()
	if t.halt != nil {
		return t.halt
	}
	if t.heard || !l.live.on {
		return nil
	}
	if !l.live.expired() {
		// Ask off the loop: a request waits while the client reconnects.
		go func() {
			if err := l.cli.RequestProgress(l.s.Context()); err != nil {
				l.d.log.Debug("progress request failed", "error", err.Error())
			}
		}()
		return nil
	}
	return &halt{stopReconnect, fmt.Errorf("%w within %s", errStuck, l.d.o.ProgressTimeout)}
}

// followLink logs a change of the connection, and holds cycles back while
// it is down.
func (d *daemon) followLink() {
	switch down := d.link.isDown(); {
	case down && !d.disconnected:
		d.disconnected = true
		d.lost(lostConnection, nil)
	case !down && d.disconnected:
		d.disconnected = false
		d.recovered()
		d.o.Metrics.setConnected(true, "")
	}
}

// watching reports whether any of the spans is watched (not Denied).
func watching(spans []snapshot.Span) bool {
	for _, sp := range spans {
		if !sp.Denied {
			return true
		}
	}
	return false
}

// take applies one batch of the stream to the snapshot and marks the
// bindings that read a changed key. A batch that ends following says why.
func (d *daemon) take(b etcd.Batch) *halt {
	if b.Err != nil {
		switch {
		case errors.Is(b.Err, etcd.ErrCompacted):
			return &halt{stopResnapshot, fmt.Errorf("%w (oldest kept: %d)", errCompacted, b.CompactRevision)}
		case errors.Is(b.Err, etcd.ErrPermissionDenied):
			// The other ranges go on; this one waits for a new snapshot.
			r := d.snap.Spans[b.Span].Describe()
			if _, known := d.failing[r]; !known {
				d.log.Error("cannot watch a key range; its changes wait for the next snapshot", "range", r, "error", b.Err.Error())
			}
			d.failing[r] = b.Err.Error()
			d.o.Metrics.setRanges(d.failing)
			return nil
		}
		return &halt{stopRewatch, b.Err}
	}
	// The etcd client reconnects and resumes its watches by itself, also
	// to another etcd that came up on the same endpoint: a new cluster,
	// or the same one started over (an empty data dir, an older backup),
	// whose history restarts below what the snapshot has seen. Its
	// events are not news to this snapshot: read it afresh.
	if b.ClusterID != d.snap.ClusterID {
		return &halt{stopResnapshot, fmt.Errorf("%w: cluster %s, not %s", errOtherEtcd, b.ClusterID, d.snap.ClusterID)}
	}
	seen := d.snap.Spans[b.Span].Rev
	if seen == 0 {
		seen = d.snap.Revision
	}
	if b.Revision < seen {
		return &halt{stopResnapshot, fmt.Errorf("%w: its revision %d is below %d, already seen (restarted or restored from a backup?)", errOtherEtcd, b.Revision, seen)}
	}
	if len(b.Events) == 0 {
		d.log.Debug("watch progress", "span", b.Span, "revision", b.Revision)
		d.snap.Progress(b.Span, b.Revision)
		return nil
	}
	changed := d.snap.ApplySpan(b.Span, b.Events)
	marked, fleetKeys := false, false
	for _, key := range changed {
		if d.fleet != nil && d.fleet.owns(key) {
			fleetKeys = true
			if key == d.fleet.o.Keys.Barrier() {
				d.fleet.want, d.fleet.barrier = true, true
			}
			continue
		}
		for _, bd := range d.readers[b.Span] {
			if bd.Reads(key) {
				d.dirty[bd.ID] = true
				marked = true
			}
		}
	}
	if marked {
		d.quiet.changed(time.Now())
		if d.pendingFrom == 0 {
			d.pendingFrom = b.Events[0].Revision
		}
	}
	if fleetKeys {
		d.readFleet()
	}
	return nil
}

// liveness proves the watch stream alive: after interval without a word
// from etcd it asks for a progress notification, and an answer must come
// within timeout. It is on only while the stream watches something.
type liveness struct {
	interval, timeout time.Duration
	timer             *time.Timer
	asked             bool
	on                bool
}

func newLiveness(interval, timeout time.Duration, on bool) *liveness {
	l := &liveness{interval: interval, timeout: timeout, timer: time.NewTimer(interval), on: on}
	if !on {
		l.timer.Stop()
	}
	return l
}

// heard records a word from etcd.
func (l *liveness) heard() {
	l.asked = false
	if l.on {
		l.timer.Reset(l.interval)
	}
}

// expired is called when the timer fires: the first time the caller is to
// ask for progress (false); the second, without a word in between, the
// stream is dead (true).
func (l *liveness) expired() bool {
	if l.asked {
		return true
	}
	l.asked = true
	l.timer.Reset(l.timeout)
	return false
}

// stop turns the check off: the stream watches nothing any more.
func (l *liveness) stop() {
	l.on = false
	l.timer.Stop()
}

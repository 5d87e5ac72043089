package fleetpage

import (
	"context"
	"sync"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
)

// lostConnection is the page's problem while etcd is unreachable.
const lostConnection = "lost the connection to etcd: the page shows the fleet as it last saw it"

// watchConnection calls set with lostConnection once the connection to
// etcd has been down for grace, and with "" when it is back. It costs
// etcd nothing: the client's connection state says it.
func watchConnection(ctx context.Context, cli *etcd.Client, grace time.Duration, set func(problem string)) {
	var mu sync.Mutex
	var timer *time.Timer
	down, gen := false, 0
	cli.MonitorConnection(ctx, func(ready bool) {
		mu.Lock()
		defer mu.Unlock()
		if !ready {
			if timer == nil && !down {
				gen++
				mine := gen
				timer = time.AfterFunc(grace, func() {
					mu.Lock()
					defer mu.Unlock()
					if mine != gen || timer == nil {
						return
					}
					timer, down = nil, true
					set(lostConnection)
				})
			}
			return
		}
		if timer != nil {
			timer.Stop()
			timer = nil
			gen++
		}
		if down {
			down = false
			set("")
		}
	})
}

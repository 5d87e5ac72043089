package fleetpage

import (
	"fmt"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/fleet"
)

// benchModel is a fleet of n hosts in 10 groups, one in 97 failing, judged
// against a barrier every host answered.
func benchModel(b *testing.B, n int) *model {
	keys := fleet.NewKeys("")
	m := newModel(keys, "")
	now := time.Now()
	m.put(keys.Barrier(), `{"by":"ops@desk: fleet status","since":"2025-01-01T00:00:00Z","nonce":"1"}`, 100, now)
	for i := range n {
		s := fleet.Status{Name: fmt.Sprintf("host-%05d", i), Group: fmt.Sprintf("g%d", i%10), At: 100, Healthy: true, Reported: now,
			Bindings: []fleet.Binding{{ID: "app", Target: "/etc/app.conf", Outcome: fleet.OK, Revision: 100}}}
		if i%97 == 0 {
			s.Bindings = append(s.Bindings, fleet.Binding{ID: "lb", Target: "/etc/haproxy/haproxy.cfg", Outcome: fleet.Failed, Error: "check failed: exited with status 1", Revision: 100})
		}
		data, err := s.Encode()
		if err != nil {
			b.Fatal(err)
		}
		m.put(keys.Host(s.Name), string(data), int64(101+i), now)
	}
	return m
}

// One frame of a fleet of 1,000 and of 10,000 hosts after one host
// reported: judging, encoding every row, and the delta (one row).
func BenchmarkFrame(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := benchModel(b, n)
			now := time.Now()
			prev, err := m.render(now, time.Second, Health{OK: true})
			if err != nil {
				b.Fatal(err)
			}
			full, _ := prev.full(nil)
			keys := m.keys
			var size int
			at := int64(100)
			for b.Loop() {
				at++
				s := fleet.Status{Name: "host-00001", Group: "g1", At: at, Healthy: true, Reported: now}
				enc, _ := s.Encode()
				m.put(keys.Host(s.Name), string(enc), 1_000_000+at, now)
				v, err := m.render(now, time.Second, Health{OK: true})
				if err != nil {
					b.Fatal(err)
				}
				data, err := v.delta(prev, nil)
				if err != nil {
					b.Fatal(err)
				}
				size, prev = len(data), v
			}
			b.ReportMetric(float64(size), "delta-bytes")
			b.ReportMetric(float64(len(full)), "full-frame-bytes")
		})
	}
}

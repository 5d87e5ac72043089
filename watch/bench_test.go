package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
	"github.com/reconfig/reconfig/watch"
)

// BenchmarkWatchConvergence measures the time from a Put returning to the
// daemon's cycle that wrote the new target content completing (rename,
// directory fsync and state record included), with 100 bindings and no
// --wait. Each iteration is one change; run with -benchtime=1000x.
func BenchmarkWatchConvergence(b *testing.B) {
	const n = 100
	srv := etcdtest.Start(b)
	ctx := context.Background()
	data := map[string]string{}
	files := map[string]string{"templates/t.tmpl": kvTemplate}
	for i := range n {
		data[fmt.Sprintf("/svc/%03d/a", i)] = "0"
		files[fmt.Sprintf("conf.d/b%03d", i)] = fmt.Sprintf(`{"id": "b%03d", "key": "/svc/%03d", "recursive": true, "source": "t.tmpl", "target": "$OUT/b%03d.conf"}`, i, i, i)
	}
	if _, err := srv.Load(ctx, data); err != nil {
		b.Fatal(err)
	}
	h := newBenchHarness(b, files)
	h.start([]string{srv.ClientURL}, nil)
	h.await("the first cycle", 30*time.Second, func(c watch.Cycle) bool { return c.Result != nil })

	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		id := i % n
		want := fmt.Sprintf("a=%d\n", i)
		if _, err := srv.Put(ctx, fmt.Sprintf("/svc/%03d/a", id), fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		path := filepath.Join(h.out, fmt.Sprintf("b%03d.conf", id))
		h.await("convergence", 30*time.Second, func(watch.Cycle) bool {
			got, err := os.ReadFile(path)
			return err == nil && string(got) == want
		})
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1.0), "max-ms")
}

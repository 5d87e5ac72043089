package plan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// BenchmarkPlan measures a whole plan — one snapshot from a real etcd,
// render, compare with the targets — of 200 bindings reading 10,000 keys
// (prefixes of 50 keys, values of about 100 bytes).
func BenchmarkPlan(b *testing.B) {
	const bindingsN, keysPer = 200, 50
	ctx := context.Background()
	srv := etcdtest.Start(b)
	data := map[string]string{}
	for i := range bindingsN {
		for k := range keysPer {
			data[fmt.Sprintf("/svc/%03d/host-%02d", i, k)] = fmt.Sprintf("10.%d.%d.1:8080 weight=%d %s", i, k, k, strings.Repeat("v", 70))
		}
	}
	if _, err := srv.Load(ctx, data); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.WriteFile(filepath.Join(dir, "templates", "t.tmpl"), []byte("backend {{.ID}}\n{{range $k, $v := .Data}}    server {{base $k}} {{$v}}\n{{end}}"), 0o644)
	for i := range bindingsN {
		os.WriteFile(filepath.Join(dir, "conf.d", fmt.Sprintf("b%03d.json", i)), fmt.Appendf(nil,
			`{"key": "/svc/%03d", "recursive": true, "source": "t.tmpl", "target": "%s/out/b%03d.conf"}`, i, dir, i), 0o644)
	}
	set, err := bindings.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	tmpls := map[string]*render.Template{}
	for _, bd := range set.Bindings {
		if tmpls[bd.ID], err = render.Compile(bd); err != nil {
			b.Fatal(err)
		}
	}
	cli, err := etcd.Connect(ctx, etcd.Config{Endpoints: []string{srv.ClientURL}})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()

	makePlan := func() (*plan.Plan, etcd.ReadStats) {
		snap, stats, err := cli.Snapshot(ctx, set.Selectors())
		if err != nil {
			b.Fatal(err)
		}
		return plan.Make(plan.Input{Set: set, Templates: tmpls, Snapshot: snap, State: state.New()}), stats
	}
	run := func(b *testing.B, want plan.Action) {
		var trips, keys int
		for b.Loop() {
			p, stats := makePlan()
			trips, keys = stats.RoundTrips, stats.Keys
			if c := p.Counts(); c[want] != bindingsN {
				b.Fatalf("plan: %v, want %d %s", c, bindingsN, want)
			}
		}
		b.ReportMetric(float64(trips), "roundtrips/op")
		b.ReportMetric(float64(keys), "keys/op")
	}
	b.Run("create", func(b *testing.B) { run(b, plan.Create) })
	p, _ := makePlan()
	if r := apply.Execute(ctx, p, apply.Options{}); r.Failed() {
		b.Fatal("apply failed")
	}
	b.Run("no-change", func(b *testing.B) { run(b, plan.NoOp) })
}

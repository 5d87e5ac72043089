package render_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/render"
)

// benchRender compiles src for b and renders it b.N times over data.
func benchRender(tb *testing.B, bd *bindings.Binding, src string, data map[string]string) {
	tb.Helper()
	tmpl, err := render.CompileText(bd, src)
	if err != nil {
		tb.Fatal(err)
	}
	in, err := render.Gather(bd, newSnapshot(tb, 1, bd.Selectors(), data))
	if err != nil {
		tb.Fatal(err)
	}
	var size int
	for tb.Loop() {
		out, err := tmpl.Execute(context.Background(), in)
		if err != nil {
			tb.Fatal(err)
		}
		size = len(out)
	}
	tb.ReportMetric(float64(size), "out-bytes")
}

// BenchmarkRangeKeys ranges over 10,000 keys, the hot path of a render:
// it measures what the stop checks inside every loop iteration cost.
func BenchmarkRangeKeys(b *testing.B) {
	data := map[string]string{}
	for i := range 10_000 {
		data[fmt.Sprintf("/svc/host-%05d", i)] = fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256)
	}
	tests := []struct {
		name string
		src  string
	}{
		{"data", "{{range $k, $v := .Data}}server {{base $k}} {{$v}}\n{{end}}"},
		{"gets", "{{range gets \"/svc/*\"}}server {{base .Key}} {{.Value}}\n{{end}}"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			benchRender(b, newBinding("svc", "/svc", true, nil), tt.src, data)
		})
	}
}

// BenchmarkLsdirGets is a template that lists 4,000 services and reads
// the 10 keys of each with gets: 40,000 keys in all.
func BenchmarkLsdirGets(b *testing.B) {
	data := map[string]string{}
	for s := range 4_000 {
		for k := range 10 {
			data[fmt.Sprintf("/services/svc-%04d/key-%02d", s, k)] = fmt.Sprintf("value %d.%d", s, k)
		}
	}
	const src = `{{range lsdir "/services"}}{{range gets (printf "/services/%s/*" .)}}{{.Key}}={{.Value}}
{{end}}{{end}}`
	benchRender(b, newBinding("services", "/services", true, nil), src, data)
}

package render_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// fuzzSnapshot is a snapshot of the binding's keys holding kvs.
func fuzzSnapshot(t testing.TB, b *bindings.Binding, kvs map[string]string) *snapshot.Snapshot {
	t.Helper()
	s := &snapshot.Snapshot{Revision: 7, Spans: snapshot.Cover(b.Selectors())}
	for _, k := range slices.Sorted(maps.Keys(kvs)) {
		for i := range s.Spans {
			sp := &s.Spans[i]
			if sp.Start <= k && k < sp.End {
				if err := sp.Append(snapshot.KV{Key: k, Value: kvs[k]}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	s.Stamp()
	return s
}

func fuzzBinding(l, r string) *bindings.Binding {
	return &bindings.Binding{ID: "fz", Key: "/k", Recursive: true, AltKeys: map[string]string{"alt": "/alt"},
		Source: "t.tmpl", SourcePath: "/templates/t.tmpl", Target: "/out/t.conf", LeftDelim: l, RightDelim: r,
		RenderTimeout: time.Second}
}

// checkRender asserts what every render promises: an error names the
// binding; an output is UTF-8 text without NUL, within MaxOutput.
func checkRender(t *testing.T, out []byte, err error) {
	t.Helper()
	if err != nil {
		var re *render.Error
		if !errors.As(err, &re) || re.Binding != "fz" || !strings.HasPrefix(err.Error(), `binding "fz": template `) {
			t.Fatalf("error does not name the binding and template: %T %v", err, err)
		}
		return
	}
	if len(out) > render.MaxOutput || !utf8.Valid(out) || bytes.IndexByte(out, 0) >= 0 {
		t.Fatalf("rendered %d bytes that are not text", len(out))
	}
}

// FuzzTemplate renders hostile templates, with hostile delimiters, over
// data with a hostile value: no panic, and the promises of checkRender.
func FuzzTemplate(f *testing.F) {
	f.Add("{{ }}", `{{range $k, $v := .Data}}{{base $k}}={{$v}}{{end}}`, "v")
	f.Add("{{ }}", `{{toYAML (fromYAML (getv "/k/a")) | nindent 2}}{{toTOML (fromYAML (getv "/k"))}}`, "a: [1, {b: c}]")
	f.Fuzz(func(t *testing.T, pattern, src, value string) {
		// Nested loops over seq (up to a million each) make a slow
		// template, not a hostile one: render_timeout stops it, after a
		// second that fuzzing has better uses for.
		if strings.Count(src, "seq") > 1 || strings.Count(src, "range") > 3 {
			return
		}
		l, r, err := bindings.ParsePattern(pattern)
		if err != nil {
			return
		}
		b := fuzzBinding(l, r)
		tm, err := render.CompileText(b, src)
		if err != nil {
			checkRender(t, nil, err)
			return
		}
		in, err := render.Gather(b, fuzzSnapshot(t, b, map[string]string{"/k": value, "/k/a": value, "/k/b/c": "x", "/alt/z": value}))
		if err != nil {
			t.Fatal(err)
		}
		out, err := tm.Execute(context.Background(), in)
		checkRender(t, out, err)
	})
}

// valueTemplates read keys and values every way the functions allow.
var valueTemplates = []string{
	`{{range $k, $v := .Data}}{{base $k}} {{dir $k}}={{$v}}{{"\n"}}{{end}}`,
	`{{range gets "/k/*"}}{{.Key}}={{.Value}}{{end}}{{range getvs "/k/*"}}{{.}}{{end}}`,
	`{{range ls "/k"}}{{.}} {{end}}{{range lsdir "/k"}}{{.}} {{end}}`,
	`{{toJSON .Data}} {{toPrettyJSON .AltData}}`,
	`{{range $k, $v := .Data}}{{base64Encode $v}} {{len (split $v ",")}}{{end}}`,
	`{{range $k, $v := .Data}}{{if exists $k}}{{getv $k}}{{end}}{{end}}`,
	`{{range sortKVByLength (gets "/k/*")}}{{.Key}}{{end}}{{range sortByLength (ls "/k")}}{{.}}{{end}}`,
	`{{range $k, $v := .Data}}{{json $v}}{{jsonArray $v}}{{end}}`,
	`{{range $k, $v := .Data}}{{base64Decode $v}}{{parseBool $v}}{{atoi $v}}{{end}}`,
	`{{toYAML .}} {{toTOML .Data}} {{range $k, $v := .Data}}{{indent 2 $v}}{{nindent 1 $v}}{{end}}`,
	`{{range $k, $v := .Data}}{{$y := fromYAML $v}}{{toYAML $y}}{{toJSON $y}}{{toTOML (map "v" $y)}}{{fromJSON $v}}{{end}}`,
}

// FuzzValues renders hostile etcd keys and values — binary, invalid
// UTF-8, NUL bytes, "..", huge — through templates that use them every
// way: no panic; output is text, or an error that names the binding (and
// the key, for binary data).
func FuzzValues(f *testing.F) {
	f.Add("a", []byte("v"))
	f.Add("big", bytes.Repeat([]byte("0123456789abcdef"), 1<<16)) // 1 MiB
	f.Add("yaml", []byte("a: &a [x, {b: *a}]\nc: [*a, *a]\n<<: {d: 1}\n"))
	f.Add("laughs", []byte("a: &a [1, 1, 1, 1]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n"))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		key = "/k/" + key
		for _, src := range valueTemplates {
			b := fuzzBinding("{{", "}}")
			tm, err := render.CompileText(b, src)
			if err != nil {
				t.Fatal(err)
			}
			in, err := render.Gather(b, fuzzSnapshot(t, b, map[string]string{key: string(value), "/k/n": "1"}))
			if err != nil {
				t.Fatal(err)
			}
			out, err := tm.Execute(context.Background(), in)
			checkRender(t, out, err)
			var re *render.Error
			if errors.As(err, &re) && strings.Contains(re.Msg, "holds binary data") && re.Key == "" {
				t.Fatalf("binary data error without the key: %v", err)
			}
		}
	})
}

package apply_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// FuzzApplyHostileData plans and applies a binding over hostile etcd keys
// and values (binary, "..", "/", NUL bytes) with real files: nothing is
// ever written but the target, and the target holds exactly the render or
// its old content.
func FuzzApplyHostileData(f *testing.F) {
	f.Add("a", []byte("v"))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(out, "t.conf")
		if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b := &bindings.Binding{ID: "fz", Key: "/k", Recursive: true, Source: "t.tmpl", SourcePath: "/t.tmpl",
			Target: target, LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 10e9}
		tm, err := render.CompileText(b, `{{range $k, $v := .Data}}{{base $k}} {{$k}}={{$v}}{{"\n"}}{{end}}`)
		if err != nil {
			t.Fatal(err)
		}
		key = "/k/" + key
		s := &snapshot.Snapshot{Revision: 9, Spans: snapshot.Cover(b.Selectors())}
		kvs := []snapshot.KV{{Key: key, Value: string(value)}}
		if key != "/k/n" {
			kvs = append(kvs, snapshot.KV{Key: "/k/n", Value: "1"})
		}
		sort.Slice(kvs, func(a, c int) bool { return kvs[a].Key < kvs[c].Key })
		for i := range s.Spans {
			sp := &s.Spans[i]
			for _, kv := range kvs {
				if sp.Start <= kv.Key && kv.Key < sp.End {
					if err := sp.Append(kv); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		s.Stamp()
		p := plan.Make(plan.Input{Set: &bindings.Set{Bindings: []*bindings.Binding{b}},
			Templates: map[string]*render.Template{"fz": tm}, Snapshot: s, State: state.New()})
		res := apply.Execute(context.Background(), p, apply.Options{})
		ch := p.Changes[0]
		got, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ch.Action == plan.Update && !res.Failed():
			if string(got) != string(ch.After) {
				t.Fatalf("target holds %q, want the render %q", got, ch.After)
			}
		case string(got) != "old\n":
			t.Fatalf("action %s (%v): target holds %q, want its old content", ch.Action, ch.Err, got)
		}
		var files []string
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if len(files) != 1 || files[0] != target {
			t.Fatalf("files after apply: %v, want only %s", files, target)
		}
	})
}

package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
)

// loadConfig writes a configuration directory of files (path: content)
// and loads it.
func loadConfig(t *testing.T, files map[string]string) *engine.Config {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := engine.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Compare classifies every binding of either configuration from the two
// renders alone: the targets it names do not exist, and are not read.
func TestCompare(t *testing.T) {
	const kv = "{{range $k, $v := .Data}}{{base $k}}={{$v}}\n{{end}}"
	binding := func(id, key, target, extra string) string {
		return `{"id": "` + id + `", "key": "` + key + `", "recursive": true, "source": "t.tmpl", "target": "` + target + `"` + extra + `}`
	}
	base := loadConfig(t, map[string]string{
		"templates/t.tmpl": kv,
		"conf.d/same":      binding("same", "/a", "/nonexistent/same", ""),
		"conf.d/changed":   binding("changed", "/a", "/nonexistent/changed", ""),
		"conf.d/settings":  binding("settings", "/a", "/nonexistent/settings", ""),
		"conf.d/removed":   binding("removed", "/a", "/nonexistent/removed", ""),
		"conf.d/was-empty": binding("was-empty", "/empty", "/nonexistent/was-empty", ""),
		"conf.d/now-empty": binding("now-empty", "/a", "/nonexistent/now-empty", ""),
	})
	head := loadConfig(t, map[string]string{
		"templates/t.tmpl":   kv,
		"templates/x.tmpl":   "x\n",
		"conf.d/same":        binding("same", "/a", "/nonexistent/same", ""),
		"conf.d/changed":     `{"id": "changed", "key": "/a", "recursive": true, "source": "x.tmpl", "target": "/nonexistent/changed"}`,
		"conf.d/settings":    binding("settings", "/a", "/nonexistent/settings", `, "mode": "0600", "reloadcmd": "true"`),
		"conf.d/added":       binding("added", "/a", "/nonexistent/added", ""),
		"conf.d/added-skips": binding("added-skips", "/empty", "/nonexistent/added-skips", ""),
		"conf.d/was-empty":   binding("was-empty", "/a", "/nonexistent/was-empty", ""),
		"conf.d/now-empty":   binding("now-empty", "/empty", "/nonexistent/now-empty", ""),
	})
	snap := &snapshot.Snapshot{Revision: 7, Spans: snapshot.Cover([]snapshot.Selector{{Key: "/a", Recursive: true}, {Key: "/empty", Recursive: true}})}
	for i := range snap.Spans {
		if sp := &snap.Spans[i]; sp.Start <= "/a/k" && "/a/k" < sp.End {
			if err := sp.Append(snapshot.KV{Key: "/a/k", Value: "v"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := engine.Compare(context.Background(), engine.Comparison{Base: base, Head: head, Snapshot: snap})

	rendered := []byte("k=v\n")
	tests := []struct {
		id         string
		action     plan.Action
		reason     string
		attrs      string
		before     []byte // nil: none
		after      []byte
		beforeHash bool
	}{
		{id: "added", action: plan.Create, reason: engine.ReasonAdded, after: rendered},
		{id: "added-skips", action: plan.Skip, reason: "new binding; no keys under /empty; the target is left as it is (set \"allow_empty\": true to render anyway)"},
		{id: "changed", action: plan.Update, reason: engine.ReasonChanged, before: rendered, after: []byte("x\n")},
		{id: "now-empty", action: plan.Skip, reason: "no keys under /empty; the target is left as it is (set \"allow_empty\": true to render anyway) (the baseline renders it)"},
		{id: "removed", action: plan.Delete, reason: engine.ReasonRemoved, before: rendered},
		{id: "same", action: plan.NoOp, before: rendered, after: rendered},
		{id: "settings", action: plan.Update, reason: engine.ReasonSettings, attrs: "mode (kept) → 0600, reloadcmd (none) → `true`", before: rendered, after: rendered},
		{id: "was-empty", action: plan.Create, reason: "the baseline skips it: no keys under /empty", after: rendered},
	}
	if len(p.Changes) != len(tests) {
		t.Fatalf("%d changes, want %d: %+v", len(p.Changes), len(tests), p.Changes)
	}
	for i, tt := range tests {
		ch := p.Changes[i]
		t.Run(tt.id, func(t *testing.T) {
			switch {
			case ch.ID != tt.id:
				t.Fatalf("change %d is %q, want %q (sorted by id)", i, ch.ID, tt.id)
			case ch.Action != tt.action || ch.Reason != tt.reason || ch.AttrChange != tt.attrs:
				t.Errorf("action %q, reason %q, attrs %q; want %q, %q, %q", ch.Action, ch.Reason, ch.AttrChange, tt.action, tt.reason, tt.attrs)
			case string(ch.Before) != string(tt.before) || (tt.before == nil) != (ch.BeforeHash == ""):
				t.Errorf("before %q (hash %q), want %q", ch.Before, ch.BeforeHash, tt.before)
			case tt.after != nil && string(ch.After) != string(tt.after):
				t.Errorf("after %q, want %q", ch.After, tt.after)
			}
		})
	}
	if p.Revision != 7 || p.Lineage != "" || p.Failed() || !p.HasChanges() {
		t.Errorf("plan revision %d, lineage %q, failed %v, changes %v; want 7, none, false, true", p.Revision, p.Lineage, p.Failed(), p.HasChanges())
	}
}

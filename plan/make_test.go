package plan_test

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// These tests plan against values built in the test: bindings and
// templates made in memory, a snapshot constructed from a map of keys, a
// state.State with the records a case needs, and real targets in
// t.TempDir().

// bindingSpec is one binding of a fixture. Its target is
// <dir>/<id>.conf unless target is set.
type bindingSpec struct {
	id, key    string
	recursive  bool
	src        string // the template
	allowEmpty bool
	mode       string // "" keeps the target's
	owner      string
	target     string
	noTemplate bool // leave it without a compiled template
}

type fixture struct {
	t     *testing.T
	dir   string
	set   *bindings.Set
	tmpls map[string]*render.Template
	st    *state.State
}

func newFixture(t *testing.T, specs ...bindingSpec) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, tmpls: map[string]*render.Template{}, st: state.New(),
		set: &bindings.Set{Dir: dir, TemplatesDir: filepath.Join(dir, "templates")}}
	for _, s := range specs {
		b := &bindings.Binding{ID: s.id, Key: s.key, Recursive: s.recursive, Source: s.id + ".tmpl",
			SourcePath: filepath.Join(f.set.TemplatesDir, s.id+".tmpl"), Target: f.path(s.id),
			LeftDelim: "{{", RightDelim: "}}", CommandTimeout: time.Minute, RenderTimeout: time.Minute,
			AllowEmpty: s.allowEmpty, Owner: s.owner}
		if s.target != "" {
			b.Target = s.target
		}
		if s.mode != "" {
			m, err := bindings.ParseMode(s.mode)
			if err != nil {
				t.Fatal(err)
			}
			b.Mode, b.HasMode = m, true
		}
		f.set.Bindings = append(f.set.Bindings, b)
		if s.noTemplate {
			continue
		}
		tm, err := render.CompileText(b, s.src)
		if err != nil {
			t.Fatal(err)
		}
		f.tmpls[b.ID] = tm
	}
	sort.Slice(f.set.Bindings, func(i, j int) bool { return f.set.Bindings[i].ID < f.set.Bindings[j].ID })
	return f
}

// path is where the target of binding (or former binding) id lives.
func (f *fixture) path(id string) string { return filepath.Join(f.dir, id+".conf") }

// write puts content at path with mode, as if written by hand or by an
// earlier apply.
func (f *fixture) write(path, content string, mode os.FileMode) {
	f.t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		f.t.Fatal(err)
	}
}

// record makes the state say that an apply wrote content to target for
// binding id, with the reload outcome given.
func (f *fixture) record(id, target, content, reload string) {
	f.st.Lineage, f.st.Serial = "test-lineage", 1
	f.st.Bindings[id] = &state.Record{Target: target, SHA256: plan.Hash([]byte(content)), Revision: 1,
		Check: state.OutcomeNone, Reload: reload}
}

// snapshot holds data (key → value) in the spans the bindings read.
func (f *fixture) snapshot(data map[string]string) *snapshot.Snapshot {
	f.t.Helper()
	snap := &snapshot.Snapshot{Revision: 7, Spans: snapshot.Cover(f.set.Selectors())}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		i := slices.IndexFunc(snap.Spans, func(sp snapshot.Span) bool { return sp.Start <= k && k < sp.End })
		if i < 0 {
			f.t.Fatalf("no binding reads %s", k)
		}
		if err := snap.Spans[i].Append(snapshot.KV{Key: k, Value: data[k]}); err != nil {
			f.t.Fatal(err)
		}
	}
	snap.Stamp()
	return snap
}

// plan plans the fixture's bindings against data and its state.
func (f *fixture) plan(data map[string]string, opts ...func(*plan.Input)) *plan.Plan {
	f.t.Helper()
	in := plan.Input{Set: f.set, Templates: f.tmpls, Snapshot: f.snapshot(data), State: f.st}
	for _, o := range opts {
		o(&in)
	}
	return plan.Make(in)
}

func prune(in *plan.Input)   { in.Prune = true }
func partial(in *plan.Input) { in.Partial = true }

// changesOf returns every change of the plan for id.
func changesOf(p *plan.Plan, id string) []*plan.Change {
	var out []*plan.Change
	for _, ch := range p.Changes {
		if ch.ID == id {
			out = append(out, ch)
		}
	}
	return out
}

// TestCompare plans one binding that renders "new" against the target on
// disk and the state's record of it: drift (the target changed by hand
// since the state recorded it), a change of mode or owner alone, and a
// target installed again because its apply was not recorded as finished
// or its reload failed.
func TestCompare(t *testing.T) {
	other := strconv.Itoa(os.Geteuid() + 1)
	tests := []struct {
		name      string
		onDisk    string // "" for no target
		diskMode  os.FileMode
		recorded  string // content the state records; "" for no record
		reload    string // the recorded reload outcome
		mode      string // the binding's
		owner     string // the binding's
		action    plan.Action
		drift     bool
		reason    string // what Reason contains ("" for none at all)
		attrs     string
		sameBytes bool // Before and After are the same content
	}{
		{name: "new target", action: plan.Create},
		{name: "deleted by hand", recorded: "old", reload: state.OutcomeOK, action: plan.Create, drift: true},
		{name: "as recorded", onDisk: "new", recorded: "new", reload: state.OutcomeOK, action: plan.NoOp, sameBytes: true},
		{name: "in place, no record", onDisk: "new", action: plan.NoOp, sameBytes: true},
		{name: "changed in etcd", onDisk: "old", recorded: "old", reload: state.OutcomeOK, action: plan.Update},
		{name: "edited by hand", onDisk: "hand", recorded: "old", reload: state.OutcomeOK, action: plan.Update, drift: true},
		{name: "edited by hand, not recorded", onDisk: "hand", action: plan.Update},
		{name: "in place, apply not recorded as finished", onDisk: "new", recorded: "old", reload: state.OutcomeOK,
			action: plan.Update, reason: "not recorded as finished: check and reload again", sameBytes: true},
		{name: "reload failed", onDisk: "new", recorded: "new", reload: state.OutcomeFailed,
			action: plan.Update, reason: "its last reload failed: reload again", sameBytes: true},
		{name: "reload did not run", onDisk: "new", recorded: "new", reload: state.OutcomeNone, action: plan.NoOp, sameBytes: true},
		{name: "mode only", onDisk: "new", diskMode: 0o644, recorded: "new", reload: state.OutcomeOK, mode: "0600",
			action: plan.Update, attrs: "mode 0644 → 0600", sameBytes: true},
		{name: "owner only", onDisk: "new", recorded: "new", reload: state.OutcomeOK, owner: other,
			action: plan.Update, attrs: "owner " + strconv.Itoa(os.Geteuid()) + " → " + other, sameBytes: true},
		{name: "content and mode", onDisk: "old", diskMode: 0o640, recorded: "old", reload: state.OutcomeOK, mode: "0644",
			action: plan.Update, attrs: "mode 0640 → 0644"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, bindingSpec{id: "app", key: "/app/v", src: `{{getv "/app/v"}}`, mode: tt.mode, owner: tt.owner})
			target := f.path("app")
			if tt.onDisk != "" {
				f.write(target, tt.onDisk, cmp.Or(tt.diskMode, 0o644))
			}
			if tt.recorded != "" {
				f.record("app", target, tt.recorded, tt.reload)
			}
			p := f.plan(map[string]string{"/app/v": "new"})
			chs := changesOf(p, "app")
			if len(chs) != 1 {
				t.Fatalf("%d changes for app, want 1: %+v", len(chs), chs)
			}
			ch := chs[0]
			if ch.Action != tt.action || ch.Drift != tt.drift {
				t.Errorf("action %s drift %v (%s); want %s drift %v", ch.Action, ch.Drift, ch.Reason, tt.action, tt.drift)
			}
			if (tt.reason == "") != (ch.Reason == "") || !strings.Contains(ch.Reason, tt.reason) {
				t.Errorf("reason %q, want one containing %q", ch.Reason, tt.reason)
			}
			if ch.AttrChange != tt.attrs {
				t.Errorf("attribute change %q, want %q", ch.AttrChange, tt.attrs)
			}
			if string(ch.After) != "new" || ch.AfterHash != plan.Hash([]byte("new")) {
				t.Errorf("after %q (%s), want \"new\"", ch.After, ch.AfterHash)
			}
			if string(ch.Before) != tt.onDisk || (tt.onDisk != "" && ch.BeforeHash != plan.Hash([]byte(tt.onDisk))) || (tt.onDisk == "" && ch.BeforeHash != "") {
				t.Errorf("before %q (%s), want %q", ch.Before, ch.BeforeHash, tt.onDisk)
			}
			if got := string(ch.Before) == string(ch.After); got != tt.sameBytes {
				t.Errorf("before = after is %v, want %v", got, tt.sameBytes)
			}
			if p.HasChanges() != tt.action.Changes() {
				t.Errorf("HasChanges = %v with a %s", p.HasChanges(), tt.action)
			}
		})
	}
}

// TestOrphans plans targets the state records that no binding writes now:
// a removed binding's and the old target of a binding whose target
// changed. They are kept and listed, deleted with --prune, and left out of
// a partial plan.
func TestOrphans(t *testing.T) {
	tests := []struct {
		name     string
		onDisk   string // the orphan's content; "" for none
		symlink  bool   // the orphan is a symlink
		recorded string
		moved    bool // the binding still exists and writes another target
		opts     []func(*plan.Input)
		action   plan.Action // "" for no orphan at all
		drift    bool
		reason   string
	}{
		{name: "removed", onDisk: "x", recorded: "x", action: plan.Orphan,
			reason: "its binding was removed; the target is kept (apply --prune deletes it)"},
		{name: "removed, edited since", onDisk: "edited", recorded: "x", action: plan.Orphan, drift: true,
			reason: "its binding was removed; the target is kept"},
		{name: "removed, target gone", recorded: "x", action: plan.Orphan,
			reason: "its binding was removed and the old target no longer exists"},
		{name: "removed, pruned", onDisk: "x", recorded: "x", opts: []func(*plan.Input){prune}, action: plan.Delete},
		{name: "removed, edited since, pruned", onDisk: "edited", recorded: "x", opts: []func(*plan.Input){prune}, action: plan.Delete, drift: true},
		{name: "removed, now a symlink, pruned", symlink: true, recorded: "x", opts: []func(*plan.Input){prune}, action: plan.Fail,
			reason: "remove it by hand"},
		{name: "moved", onDisk: "x", recorded: "x", moved: true, action: plan.Orphan,
			reason: `binding "old" now writes `},
		{name: "partial plan", onDisk: "x", recorded: "x", opts: []func(*plan.Input){partial}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs := []bindingSpec{{id: "app", key: "/app/v", src: `{{getv "/app/v"}}`}}
			if tt.moved {
				specs = append(specs, bindingSpec{id: "old", key: "/app/v", src: `{{getv "/app/v"}}`, target: filepath.Join(t.TempDir(), "moved.conf")})
			}
			f := newFixture(t, specs...)
			orphan := f.path("old")
			switch {
			case tt.symlink:
				if err := os.Symlink("/etc/passwd", orphan); err != nil {
					t.Fatal(err)
				}
			case tt.onDisk != "":
				f.write(orphan, tt.onDisk, 0o644)
			}
			f.record("old", orphan, tt.recorded, state.OutcomeOK)
			p := f.plan(map[string]string{"/app/v": "new"}, tt.opts...)

			var got *plan.Change
			for _, ch := range changesOf(p, "old") {
				if ch.Target == orphan {
					got = ch
				}
			}
			if tt.action == "" {
				if got != nil {
					t.Fatalf("orphan planned: %s (%s)", got.Action, got.Reason)
				}
				return
			}
			if got == nil {
				t.Fatalf("no change for the orphan %s: %+v", orphan, p.Changes)
			}
			if got.Action != tt.action || got.Drift != tt.drift {
				t.Errorf("action %s drift %v (%s); want %s drift %v", got.Action, got.Drift, got.Reason, tt.action, tt.drift)
			}
			if (tt.reason == "") != (got.Reason == "") || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason %q, want one containing %q", got.Reason, tt.reason)
			}
			if tt.onDisk != "" && !tt.symlink && string(got.Before) != tt.onDisk {
				t.Errorf("before %q, want %q", got.Before, tt.onDisk)
			}
			if tt.symlink && got.Before != nil {
				t.Errorf("the symlink's target was read: %q", got.Before)
			}
			if ch := changesOf(p, "app"); len(ch) != 1 || ch[0].Action != plan.Create {
				t.Errorf("the remaining binding: %+v, want one create", ch)
			}
		})
	}
}

// TestSkip plans bindings without data: the target is left as it is, and
// the plan says why, as a typed reason for machines and in words.
func TestSkip(t *testing.T) {
	tests := []struct {
		name    string
		spec    bindingSpec
		data    map[string]string
		action  plan.Action
		skipped plan.SkipReason
		reason  string
		after   string
	}{
		{name: "empty prefix", spec: bindingSpec{key: "/empty", recursive: true, src: `{{range gets "/empty/*"}}{{.Value}}{{end}}`},
			action: plan.Skip, skipped: plan.SkipEmptyPrefix, reason: "no keys under /empty"},
		{name: "missing key", spec: bindingSpec{key: "/missing", src: `{{getv "/missing"}}`},
			action: plan.Skip, skipped: plan.SkipMissingKey, reason: "key /missing does not exist"},
		{name: "empty output", spec: bindingSpec{key: "/blank", src: `{{getv "/blank"}}`}, data: map[string]string{"/blank": " \n"},
			action: plan.Skip, skipped: plan.SkipEmptyOutput, reason: "the template rendered an empty file"},
		{name: "empty prefix, allow_empty", spec: bindingSpec{key: "/empty", recursive: true, src: "# no servers\n", allowEmpty: true},
			action: plan.Update, after: "# no servers\n"},
		{name: "empty output, allow_empty", spec: bindingSpec{key: "/blank", src: `{{getv "/blank"}}`, allowEmpty: true}, data: map[string]string{"/blank": ""},
			action: plan.Update, after: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.id = "app"
			f := newFixture(t, tt.spec)
			f.write(f.path("app"), "old", 0o644)
			f.record("app", f.path("app"), "old", state.OutcomeOK)
			p := f.plan(tt.data)
			ch := change(t, p, "app")
			if ch.Action != tt.action || ch.Skipped != tt.skipped {
				t.Fatalf("action %s skipped %q (%s); want %s %q", ch.Action, ch.Skipped, ch.Reason, tt.action, tt.skipped)
			}
			if !strings.Contains(ch.Reason, tt.reason) {
				t.Errorf("reason %q, want one containing %q", ch.Reason, tt.reason)
			}
			if tt.action == plan.Skip {
				if p.HasChanges() || ch.Before != nil || ch.After != nil {
					t.Errorf("a skip changes %s: before %q after %q", ch.Target, ch.Before, ch.After)
				}
				return
			}
			// An empty render is content too: its hash is that of "".
			if string(ch.After) != tt.after || ch.AfterHash != plan.Hash([]byte(tt.after)) {
				t.Errorf("after %q (%s), want %q", ch.After, ch.AfterHash, tt.after)
			}
		})
	}
}

// TestFailedRender plans a binding whose template fails next to one that
// renders: the failure is that binding's alone, with the render's error.
func TestFailedRender(t *testing.T) {
	f := newFixture(t,
		bindingSpec{id: "bad", key: "/app", recursive: true, src: `{{getv "/app/missing"}}`},
		bindingSpec{id: "good", key: "/app", recursive: true, src: `{{getv "/app/a"}}`},
		bindingSpec{id: "uncompiled", key: "/app", recursive: true, noTemplate: true},
	)
	f.write(f.path("bad"), "old", 0o644)
	p := f.plan(map[string]string{"/app/a": "1"})

	bad := change(t, p, "bad")
	var re *render.Error
	if bad.Action != plan.Fail || !errors.As(bad.Err, &re) || re.Binding != "bad" || bad.Reason != bad.Err.Error() {
		t.Errorf("bad: %s, %v (%s); want a failure with the render's error", bad.Action, bad.Err, bad.Reason)
	}
	if !strings.Contains(bad.Reason, "/app/missing") {
		t.Errorf("bad: reason %q does not name the missing key", bad.Reason)
	}
	if bad.Before != nil || bad.After != nil {
		t.Errorf("bad: a failed binding has content: before %q after %q", bad.Before, bad.After)
	}
	if ch := change(t, p, "uncompiled"); ch.Action != plan.Fail || ch.Reason != `binding "uncompiled" has no compiled template` {
		t.Errorf("uncompiled: %s (%s)", ch.Action, ch.Reason)
	}
	if ch := change(t, p, "good"); ch.Action != plan.Create || string(ch.After) != "1" {
		t.Errorf("good: %s %q (%s); want create \"1\"", ch.Action, ch.After, ch.Reason)
	}
	if !p.Failed() || p.Counts()[plan.Fail] != 2 {
		t.Errorf("Failed = %v, counts %v; want two failures", p.Failed(), p.Counts())
	}
}

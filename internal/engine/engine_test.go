package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// fixture is a configuration directory of one binding, "app", that writes
// every key under /app to out/app.conf, and the state file beside it.
type fixture struct {
	t     *testing.T
	dir   string
	cfg   *engine.Config
	state string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	files := map[string]string{
		"templates/kv.tmpl": "{{range $k, $v := .Data}}{{base $k}}={{$v}}\n{{end}}",
		"conf.d/app":        `{"id": "app", "key": "/app", "recursive": true, "source": "kv.tmpl", "target": "` + out + `/app.conf"}`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := engine.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, cfg: cfg, state: filepath.Join(dir, "state.json")}
}

func (f *fixture) target() string { return filepath.Join(f.dir, "out", "app.conf") }

// request is an apply of every binding from snap, asking nobody.
func (f *fixture) request(snap func(context.Context) (*snapshot.Snapshot, error)) engine.Request {
	return engine.Request{StatePath: f.state, Config: f.cfg, Snapshot: snap, Holder: "apply"}
}

// fixed is a snapshot source that returns s, counting its calls.
func fixed(s *snapshot.Snapshot, calls *int) func(context.Context) (*snapshot.Snapshot, error) {
	return func(context.Context) (*snapshot.Snapshot, error) {
		*calls++
		return s, nil
	}
}

// constructed is a snapshot of cluster id at revision rev holding kvs,
// covering what the fixture's bindings read.
func (f *fixture) constructed(id string, rev int64, kvs ...snapshot.KV) *snapshot.Snapshot {
	f.t.Helper()
	s := &snapshot.Snapshot{Revision: rev, ClusterID: id, Spans: snapshot.Cover(f.cfg.Set.Selectors())}
	for _, kv := range kvs {
		for i := range s.Spans {
			if sp := &s.Spans[i]; sp.Start <= kv.Key && kv.Key < sp.End {
				if err := sp.Append(kv); err != nil {
					f.t.Fatal(err)
				}
			}
		}
	}
	return s
}

// absent fails the test when path exists.
func absent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v; want it absent", path, err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An apply from real etcd writes the target and records its hash, the
// revision and the cluster in the state; a second one finds no change and
// asks nothing.
func TestApplyRecordsStateAndRevision(t *testing.T) {
	srv := etcdtest.Start(t)
	cli, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: []string{srv.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	rev := etcdtest.PutEventually(t, cli, "/app/a", "1")
	f := newFixture(t)
	req := f.request(func(ctx context.Context) (*snapshot.Snapshot, error) {
		snap, _, err := cli.Snapshot(ctx, f.cfg.Set.Selectors())
		return snap, err
	})
	asked := 0
	req.Confirm = func(run *engine.Run) error {
		asked++
		if run.Plan == nil || !run.Plan.HasChanges() {
			t.Errorf("asked about %+v; want a plan with changes", run.Plan)
		}
		return nil
	}

	run, err := engine.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 || run.Result == nil || run.Result.Failed() || run.SaveErr != nil {
		t.Fatalf("asked %d times, result %+v, save error %v; want one question and a clean apply", asked, run.Result, run.SaveErr)
	}
	if got := read(t, f.target()); got != "a=1\n" {
		t.Errorf("target holds %q; want %q", got, "a=1\n")
	}
	st, err := state.Load(f.state)
	if err != nil {
		t.Fatal(err)
	}
	r := st.Bindings["app"]
	switch {
	case st.Revision != rev || r == nil || r.Revision != rev:
		t.Errorf("state revision %d, record %+v; want revision %d", st.Revision, r, rev)
	case r.SHA256 != plan.Hash([]byte("a=1\n")) || r.Target != f.target():
		t.Errorf("record %+v; want the target's path and hash", r)
	case st.ClusterID == "" || st.ClusterID != run.Plan.ClusterID:
		t.Errorf("state cluster %q; want etcd's, %q", st.ClusterID, run.Plan.ClusterID)
	case run.SerialBefore != 0 || st.Serial != 1 || run.State.Serial != 1:
		t.Errorf("serial %d before, %d saved, %d returned; want 0, 1, 1", run.SerialBefore, st.Serial, run.State.Serial)
	}

	run, err = engine.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 || run.Plan.HasChanges() {
		t.Errorf("second apply asked %d times in all, plan has changes: %v; want no question about no change", asked, run.Plan.HasChanges())
	}
}

// A lock held by another operation is reported as the lock error, as the
// lock step's; nothing is read or written.
func TestHeldLock(t *testing.T) {
	f := newFixture(t)
	lock, err := state.Acquire(context.Background(), f.state, "watch", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	calls := 0
	run, err := engine.Apply(context.Background(), f.request(fixed(f.constructed("c1", 5, snapshot.KV{Key: "/app/a", Value: "1"}), &calls)))
	var locked *state.LockedError
	var blocked *engine.Blocked
	if !errors.As(err, &locked) || !errors.As(err, &blocked) || blocked.Step != engine.StepLock {
		t.Fatalf("error %v (%T); want the lock step's *state.LockedError", err, err)
	}
	if err.Error() != locked.Error() {
		t.Errorf("error text %q; want the lock's own, %q", err, locked)
	}
	if locked.Info == nil || locked.Info.Operation != "watch" {
		t.Errorf("lock info %+v; want the holder, watch", locked.Info)
	}
	if calls != 0 || run == nil || run.Plan != nil {
		t.Errorf("snapshot read %d times, run %+v; want nothing read or planned", calls, run)
	}
	absent(t, f.target())
	absent(t, f.state)
}

// A state recorded for another etcd cluster is refused without force and
// adopted with it; a plan reports it and plans against a fresh state.
func TestClusterMismatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		force   bool
		planned bool // engine.Plan rather than Apply
		// wantErr: the apply is refused; wantMismatch: the plan says so.
		wantErr, wantMismatch bool
		want                  string // the target after
	}{
		{name: "apply refuses", wantErr: true, want: "a=1\n"},
		{name: "apply adopts with force", force: true, want: "a=2\n"},
		{name: "plan warns", planned: true, wantMismatch: true, want: "a=1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			calls := 0
			if _, err := engine.Apply(context.Background(), f.request(fixed(f.constructed("c1", 5, snapshot.KV{Key: "/app/a", Value: "1"}), &calls))); err != nil {
				t.Fatal(err)
			}
			before := read(t, f.state)
			req := f.request(fixed(f.constructed("c2", 3, snapshot.KV{Key: "/app/a", Value: "2"}), &calls))
			req.Force = tc.force
			var run *engine.Run
			var err error
			if tc.planned {
				run, err = engine.Plan(context.Background(), req)
			} else {
				run, err = engine.Apply(context.Background(), req)
			}

			var mismatch *state.ClusterMismatch
			var blocked *engine.Blocked
			switch {
			case tc.wantErr && !(errors.As(err, &mismatch) && errors.As(err, &blocked) && blocked.Step == engine.StepState):
				t.Errorf("error %v (%T); want the state step's *state.ClusterMismatch", err, err)
			case !tc.wantErr && err != nil:
				t.Errorf("error %v; want none", err)
			case tc.wantMismatch && !errors.As(run.Mismatch, &mismatch):
				t.Errorf("mismatch %v; want a *state.ClusterMismatch", run.Mismatch)
			case !tc.wantMismatch && run.Mismatch != nil:
				t.Errorf("mismatch %v; want none", run.Mismatch)
			}
			if tc.planned {
				// Against a fresh state the target is news: no drift, a
				// plain update.
				if ch := run.Plan.Changes[0]; ch.Action != plan.Update || ch.Drift || run.Plan.Serial != 0 {
					t.Errorf("change %s (drift %v), plan serial %d; want an update against a fresh state", ch.Action, ch.Drift, run.Plan.Serial)
				}
			}
			if got := read(t, f.target()); got != tc.want {
				t.Errorf("target holds %q; want %q", got, tc.want)
			}
			if after := read(t, f.state); tc.force == (after == before) {
				t.Errorf("state changed: %v; want it changed only with force", after != before)
			}
		})
	}
}

// A confirmation that declines stops the apply before anything is
// written, and its error is returned as it is.
func TestConfirmDeclinedWritesNothing(t *testing.T) {
	f := newFixture(t)
	declined := errors.New("declined")
	calls := 0
	req := f.request(fixed(f.constructed("c1", 5, snapshot.KV{Key: "/app/a", Value: "1"}), &calls))
	var asked *engine.Run
	req.Confirm = func(run *engine.Run) error {
		asked = run
		return declined
	}
	run, err := engine.Apply(context.Background(), req)
	if err != declined {
		t.Fatalf("error %v; want the confirmation's, as it is", err)
	}
	if asked == nil || asked.Plan == nil || asked.Plan.Changes[0].Action != plan.Create {
		t.Fatalf("asked about %+v; want the plan to create app", asked)
	}
	if run.Result != nil {
		t.Errorf("result %+v; want nothing executed", run.Result)
	}
	absent(t, f.target())
	absent(t, f.state)
	absent(t, state.JournalPath(f.state))
	// The lock is free again.
	lock, err := state.Acquire(context.Background(), f.state, "apply", 0)
	if err != nil {
		t.Fatalf("the lock after a declined apply: %v", err)
	}
	lock.Release()
}

// A plan takes no lock and writes nothing: not the target, not the state.
func TestPlanWritesNothingTakesNoLock(t *testing.T) {
	f := newFixture(t)
	lock, err := state.Acquire(context.Background(), f.state, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	calls := 0
	run, err := engine.Plan(context.Background(), f.request(fixed(f.constructed("c1", 5, snapshot.KV{Key: "/app/a", Value: "1"}), &calls)))
	if err != nil {
		t.Fatalf("plan while another holds the lock: %v", err)
	}
	if calls != 1 || run.Plan == nil || run.Plan.Changes[0].Action != plan.Create || run.Result != nil {
		t.Errorf("snapshot read %d times, plan %+v, result %+v; want one read, a create, nothing executed", calls, run.Plan, run.Result)
	}
	absent(t, f.target())
	absent(t, f.state)
}

// A saved plan is applied as it is, once: the state it was made against
// has moved after that.
func TestSavedPlan(t *testing.T) {
	f := newFixture(t)
	calls := 0
	planned, err := engine.Plan(context.Background(), f.request(fixed(f.constructed("c1", 5, snapshot.KV{Key: "/app/a", Value: "1"}), &calls)))
	if err != nil {
		t.Fatal(err)
	}
	req := engine.Request{StatePath: f.state, Holder: "apply",
		Saved: &engine.Saved{Plan: planned.Plan, Path: "saved.plan", CfgDir: f.dir}}
	run, err := engine.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if run.Plan != planned.Plan || run.Result.Failed() || read(t, f.target()) != "a=1\n" {
		t.Fatalf("applied %p (saved %p), failed %v; want the saved plan applied", run.Plan, planned.Plan, run.Result.Failed())
	}
	if _, err := engine.Apply(context.Background(), req); err == nil || !strings.Contains(err.Error(), "saved.plan") {
		t.Errorf("second apply of the saved plan: %v; want it refused, naming the file", err)
	}
}

// Load reports every problem of a configuration at once.
func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"templates/a.tmpl": "{{ .Broken ",
		"templates/b.tmpl": "{{ end }}",
		"conf.d/a":         `{"id": "a", "key": "/a", "source": "a.tmpl", "target": "/tmp/a.conf"}`,
		"conf.d/b":         `{"id": "b", "key": "/b", "source": "b.tmpl", "target": "/tmp/b.conf"}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := engine.Load(dir)
	var errs engine.LoadErrors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("error %v; want both templates' problems", err)
	}
	if !strings.Contains(errs[0].Error(), "a.tmpl") || !strings.Contains(errs[1].Error(), "b.tmpl") {
		t.Errorf("problems %q; want a.tmpl's, then b.tmpl's", errs)
	}
	if errs.Hint() == "" {
		t.Error("no hint")
	}
}

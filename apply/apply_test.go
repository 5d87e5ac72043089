package apply_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// fixture is a configuration of bindings that each render the value of
// their own key, so a test changes a target by changing its key.
type fixture struct {
	t     *testing.T
	dir   string
	set   *bindings.Set
	tmpls map[string]*render.Template
	data  map[string]string
	rev   int64
	st    *state.State
}

type spec struct {
	id, check, reload string
	timeout           time.Duration
}

func newFixture(t *testing.T, specs ...spec) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), tmpls: map[string]*render.Template{}, data: map[string]string{}, st: state.New()}
	f.set = &bindings.Set{Dir: f.dir}
	for _, s := range specs {
		b := &bindings.Binding{
			ID: s.id, Key: "/" + s.id, Source: s.id + ".tmpl", Target: filepath.Join(f.dir, s.id+".conf"),
			LeftDelim: "{{", RightDelim: "}}", CheckCmd: s.check, ReloadCmd: s.reload,
			CommandTimeout: s.timeout,
		}
		if b.CommandTimeout == 0 {
			b.CommandTimeout = 10 * time.Second
		}
		tm, err := render.CompileText(b, `{{getv "/`+s.id+`"}}`)
		if err != nil {
			t.Fatal(err)
		}
		f.set.Bindings = append(f.set.Bindings, b)
		f.tmpls[s.id] = tm
	}
	return f
}

func (f *fixture) target(id string) string { return filepath.Join(f.dir, id+".conf") }

// plan renders the bindings against the fixture's data at a new revision.
func (f *fixture) plan() *plan.Plan {
	f.rev++
	snap := &snapshot.Snapshot{Revision: f.rev, Spans: snapshot.Cover(f.set.Selectors())}
	for i := range snap.Spans {
		sp := &snap.Spans[i]
		for _, k := range slices.Sorted(maps.Keys(f.data)) {
			if k >= sp.Start && k < sp.End {
				if err := sp.Append(snapshot.KV{Key: k, Value: f.data[k]}); err != nil {
					f.t.Fatal(err)
				}
			}
		}
	}
	return plan.Make(plan.Input{Set: f.set, Templates: f.tmpls, Snapshot: snap, State: f.st})
}

// apply plans and executes, recording the state.
func (f *fixture) apply() *apply.Result {
	p := f.plan()
	r := apply.Execute(context.Background(), p, apply.Options{})
	r.Record(f.st, p, time.Now())
	return r
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A reader of a target during 1,000 applies sees one whole version or
// another, never an empty, partial or mixed file.
func TestConcurrentReaderSeesWholeVersions(t *testing.T) {
	f := newFixture(t, spec{id: "app"})
	version := func(i int) string {
		// Versions of very different sizes make a torn read visible.
		n := 1 + (i%3)*20000
		return fmt.Sprintf("begin %d\n%s\nend %d\n", i, strings.Repeat("x", n), i)
	}
	f.data["/app"] = version(0)
	f.apply()

	var stop atomic.Bool
	var reads, bad atomic.Int64
	var firstBad atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(f.target("app"))
			reads.Add(1)
			if err != nil {
				bad.Add(1)
				firstBad.CompareAndSwap(nil, err.Error())
				continue
			}
			var i int
			if _, err := fmt.Sscanf(string(b), "begin %d\n", &i); err != nil || string(b) != version(i) {
				bad.Add(1)
				firstBad.CompareAndSwap(nil, fmt.Sprintf("%d bytes: %.40q", len(b), b))
			}
		}
	}()
	for i := 1; i <= 1000; i++ {
		f.data["/app"] = version(i)
		if r := f.apply(); r.Failed() {
			t.Fatalf("apply %d failed: %v", i, r.Outcomes[0].Err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of %d reads saw a bad file; first: %v", bad.Load(), reads.Load(), firstBad.Load())
	}
	if got := read(t, f.target("app")); got != version(1000) {
		t.Fatalf("final content is not version 1000")
	}
	if reads.Load() < 100 {
		t.Fatalf("the reader only read %d times; the test proves nothing", reads.Load())
	}
	t.Logf("%d reads during 1000 applies, all whole", reads.Load())
	assertNoStaged(t, f.dir)
}

func assertNoStaged(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".reconfig-") {
			t.Errorf("staged file left behind: %s", e.Name())
		}
	}
}

// A failed check leaves the old bytes in place and runs no reload, whether
// it checks the staged file or the installed one.
func TestFailedCheckKeepsOldContent(t *testing.T) {
	for _, tc := range []struct {
		name, check string
		wantErr     string
	}{
		{name: "staged file", check: `! grep -q bad {{.src}}`, wantErr: "keeps its old content"},
		{name: "installed file", check: `! grep -q bad "$RECONFIG_TARGET"`, wantErr: "the old content of"},
		{name: "installed file via dest", check: `! grep -q bad {{.dest}}`, wantErr: "the old content of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "reloaded")
			f := newFixture(t, spec{id: "app", check: tc.check, reload: "echo x >> " + marker})
			f.data["/app"] = "good\n"
			if r := f.apply(); r.Failed() {
				t.Fatalf("first apply failed: %v", r.Outcomes[0].Err)
			}
			os.Remove(marker)
			if err := os.Chmod(f.target("app"), 0o600); err != nil {
				t.Fatal(err)
			}
			f.data["/app"] = "bad\n"
			r := f.apply()
			o := r.Outcomes[0]
			if o.Err == nil || !strings.Contains(o.Err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", o.Err, tc.wantErr)
			}
			if o.Changed || o.Check == nil || o.Check.ExitCode != 1 {
				t.Fatalf("outcome: changed %v, check %+v", o.Changed, o.Check)
			}
			if got := read(t, f.target("app")); got != "good\n" {
				t.Fatalf("target holds %q, want the old content", got)
			}
			if info, _ := os.Stat(f.target("app")); info.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, want the old 0600", info.Mode().Perm())
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("reload ran after a failed check")
			}
			if rec := f.st.Bindings["app"]; rec.Check != state.OutcomeFailed || rec.SHA256 != plan.Hash([]byte("good\n")) {
				t.Fatalf("state record %+v", rec)
			}
			assertNoStaged(t, f.dir)
		})
	}
}

// A failed check of a new file removes it again.
func TestFailedCheckOfNewFileRemovesIt(t *testing.T) {
	f := newFixture(t, spec{id: "app", check: "false"})
	f.data["/app"] = "v\n"
	r := f.apply()
	if !r.Failed() {
		t.Fatal("apply did not fail")
	}
	if _, err := os.Stat(f.target("app")); !os.IsNotExist(err) {
		t.Fatalf("target exists after a failed check of a new file: %v", err)
	}
	if _, ok := f.st.Bindings["app"]; ok {
		t.Fatal("state records a target that was never installed")
	}
}

// Bindings that share a reload command reload once; others reload apart.
func TestSharedReloadRunsOnce(t *testing.T) {
	log := filepath.Join(t.TempDir(), "reloads")
	shared := `echo "shared $RECONFIG_ID" >> ` + log
	f := newFixture(t,
		spec{id: "a", reload: shared},
		spec{id: "b", reload: shared},
		spec{id: "c", reload: shared},
		spec{id: "d", reload: `echo "own $RECONFIG_ID" >> ` + log},
	)
	for _, id := range []string{"a", "b", "c", "d"} {
		f.data["/"+id] = id
	}
	r := f.apply()
	if r.Failed() {
		t.Fatal("apply failed")
	}
	if got, want := read(t, log), "shared a b c\nown d\n"; got != want {
		t.Fatalf("reload log:\n%s\nwant:\n%s", got, want)
	}
	if len(r.Reloads) != 2 || strings.Join(r.Reloads[0].IDs, ",") != "a,b,c" {
		t.Fatalf("reloads: %+v", r.Reloads)
	}
	// Only b changes: only its reload group runs, once.
	f.data["/b"] = "b2"
	f.apply()
	if got, want := read(t, log), "shared a b c\nown d\nshared b\n"; got != want {
		t.Fatalf("reload log:\n%s\nwant:\n%s", got, want)
	}
}

// A failed reload is an error of its bindings; the file stays (it passed
// its check) and other bindings are unaffected.
func TestFailedReloadKeepsFile(t *testing.T) {
	f := newFixture(t, spec{id: "a", reload: "echo boom >&2; exit 3"}, spec{id: "b"})
	f.data["/a"], f.data["/b"] = "a\n", "b\n"
	r := f.apply()
	a, b := r.Outcomes[0], r.Outcomes[1] // in plan order: a, b
	if a.Err == nil || !strings.Contains(a.Err.Error(), "reload failed: exited with status 3") {
		t.Fatalf("a: %v", a.Err)
	}
	if a.Reload.Output != "boom\n" {
		t.Fatalf("reload output %q", a.Reload.Output)
	}
	if read(t, f.target("a")) != "a\n" || read(t, f.target("b")) != "b\n" || b.Err != nil {
		t.Fatal("targets not written")
	}
	if s := r.Summary(); s.Failed != 1 || s.Created != 1 {
		t.Fatalf("summary %+v", s)
	}
}

// A check that hangs is killed, with everything it started, at its
// timeout; the old content stays.
func TestCheckTimeoutKillsProcessGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	f := newFixture(t, spec{id: "app", check: "sleep 300 & echo $! > " + pidfile + "; wait", timeout: 300 * time.Millisecond})
	f.data["/app"] = "v\n"
	r := f.apply()
	o := r.Outcomes[0]
	if o.Check == nil || !o.Check.TimedOut || !strings.Contains(o.Err.Error(), "timed out after 300ms and was killed") {
		t.Fatalf("check %+v, err %v", o.Check, o.Err)
	}
	if _, err := os.Stat(f.target("app")); !os.IsNotExist(err) {
		t.Fatal("target installed despite a timed-out check")
	}
	pid := strings.TrimSpace(read(t, pidfile))
	// The child was in the command's process group: it is gone (or a
	// zombie about to be reaped by init).
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || bytes.Contains(stat, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %s of the timed-out check still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A command that exits but leaves a child holding its output does not
// hold apply.
func TestReloadLeavingChildren(t *testing.T) {
	f := newFixture(t, spec{id: "app", reload: "sleep 300 & echo started"})
	f.data["/app"] = "v\n"
	start := time.Now()
	r := f.apply()
	if r.Failed() {
		t.Fatalf("apply failed: %v", r.Outcomes[0].Err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("apply waited %s for the reload's child", d)
	}
}

// Files staged by a process that died before renaming are removed by the
// next apply of that target.
func TestStaleStagedFilesRemoved(t *testing.T) {
	f := newFixture(t, spec{id: "app"})
	stale := filepath.Join(f.dir, ".reconfig-0123456789ab.app.conf")
	other := filepath.Join(f.dir, ".reconfig-0123456789ab.other.conf")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.data["/app"] = "v\n"
	f.apply()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("stale staged file of the target was not removed")
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal("a staged file of another target was removed")
	}
}

// A target changed after the plan was made is left alone.
func TestTargetChangedSincePlan(t *testing.T) {
	f := newFixture(t, spec{id: "app"})
	f.data["/app"] = "v1\n"
	f.apply()
	f.data["/app"] = "v2\n"
	p := f.plan()
	if err := os.WriteFile(f.target("app"), []byte("by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := apply.Execute(context.Background(), p, apply.Options{})
	if o := r.Outcomes[0]; o.Err == nil || !strings.Contains(o.Err.Error(), "changed since the plan was made") {
		t.Fatalf("err = %v", o.Err)
	}
	if read(t, f.target("app")) != "by hand\n" {
		t.Fatal("target overwritten")
	}
}

// Targets in a missing directory: the directory is created and reported.
func TestCreatesMissingDirectory(t *testing.T) {
	f := newFixture(t, spec{id: "app"})
	b := f.set.Bindings[0]
	b.Target = filepath.Join(f.dir, "sub", "dir", "app.conf")
	f.data["/app"] = "v\n"
	r := f.apply()
	if o := r.Outcomes[0]; o.Err != nil || o.CreatedDir != filepath.Join(f.dir, "sub", "dir") {
		t.Fatalf("outcome %+v", o)
	}
	if info, err := os.Stat(filepath.Join(f.dir, "sub", "dir")); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("directory: %v %v", info, err)
	}
}

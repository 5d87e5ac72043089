package watch_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/watch"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

func TestMain(m *testing.M) {
	etcdtest.MaybeServe()
	os.Exit(m.Run())
}

// harness runs the daemon in-process against real etcd servers.
type harness struct {
	t      testing.TB
	cfg    string
	out    string
	cycles chan watch.Cycle
	logs   *testfixtures.SyncBuffer
	reload chan struct{}
	cancel context.CancelFunc
	done   chan error
	opts   watch.Options
}

// files maps paths under the cfgdir to contents; "$OUT" in them is the
// directory targets go to.
func newHarness(t *testing.T, files map[string]string) *harness {
	return newBenchHarness(t, files)
}

func newBenchHarness(t testing.TB, files map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, cfg: t.TempDir(), out: t.TempDir(), cycles: make(chan watch.Cycle, 1000),
		logs: &testfixtures.SyncBuffer{}, reload: make(chan struct{}, 1)}
	for name, content := range files {
		h.write(name, content)
	}
	return h
}

func (h *harness) write(name, content string) {
	h.t.Helper()
	p := filepath.Join(h.cfg, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(content, "$OUT", h.out)), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// start runs the daemon against endpoints until the test ends.
func (h *harness) start(endpoints []string, tune func(*watch.Options)) {
	h.t.Helper()
	h.opts = watch.Options{
		Load: func() (*engine.Config, error) { return engine.Load(h.cfg) },
		Connect: func(ctx context.Context) (*etcd.Client, error) {
			return etcd.Connect(ctx, etcd.Config{Endpoints: endpoints, DialTimeout: time.Second, CommandTimeout: 2 * time.Second})
		},
		StatePath:  filepath.Join(h.cfg, "state.json"),
		BackoffMin: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond,
		Reload:     h.reload,
		Logger:     slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnCycle:    func(c watch.Cycle) { h.cycles <- c },
	}
	if tune != nil {
		tune(&h.opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- watch.Run(ctx, h.opts) }()
	h.t.Cleanup(func() {
		h.stop()
		if h.t.Failed() {
			h.t.Logf("daemon log:\n%s", h.logs.String())
		}
	})
}

// stop ends the daemon and returns what Run returned.
func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("the daemon did not stop within 30s")
	}
	return nil
}

// await reads cycles until ok accepts one, failing after timeout.
func (h *harness) await(what string, timeout time.Duration, ok func(watch.Cycle) bool) watch.Cycle {
	h.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c := <-h.cycles:
			if ok(c) {
				return c
			}
		case <-deadline:
			h.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// awaitContent waits for cycles until the target holds want.
func (h *harness) awaitContent(name, want string, timeout time.Duration) watch.Cycle {
	h.t.Helper()
	path := filepath.Join(h.out, name)
	if b, err := os.ReadFile(path); err == nil && string(b) == want {
		return watch.Cycle{}
	}
	return h.await(fmt.Sprintf("%s to hold %q", name, want), timeout, func(watch.Cycle) bool {
		b, err := os.ReadFile(path)
		return err == nil && string(b) == want
	})
}

func (h *harness) read(name string) string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.out, name))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

const kvTemplate = "{{range $k, $v := .Data}}{{base $k}}={{$v}}\n{{end}}"

func connect(t *testing.T, endpoint string) *etcd.Client {
	t.Helper()
	c, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func put(t *testing.T, c *etcd.Client, key, value string) int64 {
	t.Helper()
	rev, err := c.Put(context.Background(), key, value, 0)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return rev
}

// A put converges the target; a delete of a non-recursive key leaves the
// target as it is and the skip is logged.
func TestPutConvergesDeleteSkips(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/app/a", "1")
	put(t, c, "/single", "one")
	h := newHarness(t, map[string]string{
		"templates/kv.tmpl": kvTemplate,
		"conf.d/app":        `{"id": "app", "key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf"}`,
		"conf.d/single":     `{"id": "single", "key": "/single", "source": "kv.tmpl", "target": "$OUT/single.conf"}`,
	})
	h.start([]string{srv.ClientURL}, nil)
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)
	h.awaitContent("single.conf", "single=one\n", 10*time.Second)

	rev := put(t, c, "/app/b", "2")
	cy := h.awaitContent("app.conf", "a=1\nb=2\n", 10*time.Second)
	if cy.Revision != rev {
		t.Errorf("rendered at revision %d, want the put's %d", cy.Revision, rev)
	}
	// Only the binding that reads the key was planned.
	if cy.Plan != nil && len(cy.Plan.Changes) != 1 {
		t.Errorf("cycle planned %d bindings, want only app", len(cy.Plan.Changes))
	}

	if _, err := c.Delete(context.Background(), "/single", false); err != nil {
		t.Fatal(err)
	}
	h.await("single to be skipped", 10*time.Second, func(cy watch.Cycle) bool {
		return cy.Plan != nil && len(cy.Plan.Changes) == 1 && cy.Plan.Changes[0].Action == plan.Skip
	})
	if got := h.read("single.conf"); got != "single=one\n" {
		t.Fatalf("single.conf = %q after its key was deleted; want it untouched", got)
	}
	if !strings.Contains(h.logs.String(), `msg="binding skipped; its target is left as it is" id=single`) ||
		!strings.Contains(h.logs.String(), "key /single does not exist") {
		t.Fatalf("skip not logged:\n%s", h.logs.String())
	}
}

// An altkey change re-renders its binding.
func TestAltkeyChangeRerenders(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/main", "m")
	put(t, c, "/alt/x", "1")
	h := newHarness(t, map[string]string{
		"templates/t.tmpl": `{{getv "/main"}} {{getv "/alt/x"}}`,
		"conf.d/b":         `{"id": "b", "key": "/main", "altkeys": {"a": "/alt"}, "source": "t.tmpl", "target": "$OUT/b.conf"}`,
	})
	h.start([]string{srv.ClientURL}, nil)
	h.awaitContent("b.conf", "m 1", 10*time.Second)
	put(t, c, "/alt/x", "2")
	h.awaitContent("b.conf", "m 2", 10*time.Second)
}

// 1,000 puts in a burst with --wait 50ms end with the target at the final
// revision and far fewer reloads than puts.
func TestBurstWithQuiescence(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/burst/n", "0")
	reloads := filepath.Join(t.TempDir(), "reloads")
	h := newHarness(t, map[string]string{
		"templates/t.tmpl": `n={{getv "/burst/n"}} rev={{.Revision}}`,
		"conf.d/b": `{"id": "b", "key": "/burst", "recursive": true, "source": "t.tmpl", "target": "$OUT/b.conf",
			"reloadcmd": "echo $RECONFIG_REVISION >> ` + reloads + `"}`,
	})
	h.start([]string{srv.ClientURL}, func(o *watch.Options) { o.WaitMin, o.WaitMax = 50*time.Millisecond, 200*time.Millisecond })
	h.awaitContent("b.conf", fmt.Sprintf("n=0 rev=%d", 2), 10*time.Second)

	var last int64
	for i := 1; i <= 1000; i++ {
		last = put(t, c, "/burst/n", fmt.Sprint(i))
	}
	h.awaitContent("b.conf", fmt.Sprintf("n=1000 rev=%d", last), 20*time.Second)
	lines := strings.Count(readFile(t, reloads), "\n")
	t.Logf("1000 puts, %d reloads", lines)
	if lines > 100 {
		t.Fatalf("%d reloads for 1000 puts with --wait 50ms", lines)
	}
	if !strings.HasSuffix(readFile(t, reloads), fmt.Sprintf("%d\n", last)) {
		t.Fatalf("the last reload was not at the final revision %d", last)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// SIGHUP with a broken template keeps the old set; a fixed one is taken.
func TestReloadKeepsOldSetOnError(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/k", "v1")
	h := newHarness(t, map[string]string{
		"templates/t.tmpl": `old {{getv "/k"}}`,
		"conf.d/b":         `{"id": "b", "key": "/k", "source": "t.tmpl", "target": "$OUT/b.conf"}`,
	})
	h.start([]string{srv.ClientURL}, nil)
	h.awaitContent("b.conf", "old v1", 10*time.Second)

	h.write("templates/t.tmpl", `new {{getv "/k"`)
	h.reload <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.logs.String(), "configuration reload failed; keeping the previous bindings") {
		if time.Now().After(deadline) {
			t.Fatal("the failed reload was not logged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	put(t, c, "/k", "v2")
	h.awaitContent("b.conf", "old v2", 10*time.Second)

	h.write("templates/t.tmpl", `new {{getv "/k"}}`)
	h.reload <- struct{}{}
	h.awaitContent("b.conf", "new v2", 10*time.Second)
	if err := h.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// A failed check is retried by the periodic resync even when etcd does not
// change; the daemon never stops on it.
func TestFailureRetriedOnResync(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/k", "v1")
	flag := filepath.Join(t.TempDir(), "allow")
	h := newHarness(t, map[string]string{
		"templates/t.tmpl": `{{getv "/k"}}`,
		"conf.d/b":         `{"id": "b", "key": "/k", "source": "t.tmpl", "target": "$OUT/b.conf", "checkcmd": "test -e ` + flag + `"}`,
	})
	h.start([]string{srv.ClientURL}, func(o *watch.Options) { o.Resync = 300 * time.Millisecond })
	h.await("a failed cycle", 10*time.Second, func(cy watch.Cycle) bool { return cy.Result != nil && cy.Result.Failed() })
	if _, err := os.Stat(filepath.Join(h.out, "b.conf")); !os.IsNotExist(err) {
		t.Fatal("target written although its check failed")
	}
	os.WriteFile(flag, nil, 0o644)
	h.awaitContent("b.conf", "v1", 10*time.Second)
}

// The daemon writes nothing while etcd is unreachable at start, and
// converges once it answers.
func TestUnreachableAtStart(t *testing.T) {
	addr := etcdtest.FreeAddr()
	h := newHarness(t, map[string]string{
		"templates/t.tmpl": `{{getv "/k"}}`,
		"conf.d/b":         `{"id": "b", "key": "/k", "source": "t.tmpl", "target": "$OUT/b.conf"}`,
	})
	h.start([]string{"http://" + addr}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(h.logs.String(), "etcd unreachable") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries logged:\n%s", h.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ents, _ := os.ReadDir(h.out); len(ents) != 0 {
		t.Fatalf("files written with no etcd: %v", ents)
	}
	srv := etcdtest.Start(t, etcdtestOptions("http://"+addr))
	c := connect(t, srv.ClientURL)
	put(t, c, "/k", "hello")
	h.awaitContent("b.conf", "hello", 20*time.Second)
}

// Stopping the daemon is not an etcd problem: it logs no interrupted
// watch on its way out.
func TestStopLogsNoInterruptedWatch(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/app/a", "1")
	for i := range 5 {
		h := newHarness(t, map[string]string{
			"templates/kv.tmpl": kvTemplate,
			"conf.d/app":        `{"id": "app", "key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf"}`,
		})
		h.start([]string{srv.ClientURL}, nil)
		h.awaitContent("app.conf", "a=1\n", 10*time.Second)
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		if l := h.logs.String(); strings.Contains(l, "watch interrupted") || strings.Contains(l, "lost etcd") {
			t.Fatalf("stop %d logged an etcd problem:\n%s", i, l)
		}
	}
}

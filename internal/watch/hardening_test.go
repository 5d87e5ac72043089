package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/watch"
	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// connectAs connects a client with credentials.
func connectAs(t *testing.T, endpoint, user, password string) *etcd.Client {
	t.Helper()
	c, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second,
		Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// asUser makes the daemon connect with credentials.
func asUser(endpoint, user, password string) func(*watch.Options) {
	return func(o *watch.Options) {
		o.Connect = func(ctx context.Context) (*etcd.Client, error) {
			return etcd.Connect(ctx, etcd.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second,
				CommandTimeout: 2 * time.Second, Username: user, Password: password})
		}
	}
}

// awaitHealth waits until the daemon's health says ok (or not) with a
// reason matching re.
func awaitHealth(t *testing.T, m *watch.Metrics, ok bool, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		got, reason := m.Health()
		if got == ok && rx.MatchString(reason) {
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("health (%v, %q) after %s, want (%v, matching %q)", got, reason, timeout, ok, re)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// etcd's usual grant, `read --prefix /app/`, lets a role read /app/… but
// not /app itself: the daemon must follow changes under exactly the
// permissions plan needs — at once, not at the next resync — and say it
// is healthy.
func TestWatchUnderPrefixGrant(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	if _, err := srv.Load(context.Background(), map[string]string{"/app/a": "1"}); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/app/"})
	root := connectAs(t, srv.ClientURL, "root", "rootpw")

	h := newHarness(t, oneBinding)
	m := watch.NewMetrics()
	h.start([]string{srv.ClientURL}, func(o *watch.Options) {
		asUser(srv.ClientURL, "reader", "readpw")(o)
		o.Metrics = m
	})
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)
	put(t, root, "/app/b", "2")
	h.awaitContent("app.conf", "a=1\nb=2\n", 10*time.Second)
	put(t, root, "/app", "own key: invisible to the role")
	put(t, root, "/app/a", "3")
	h.awaitContent("app.conf", "a=3\nb=2\n", 10*time.Second)

	awaitHealth(t, m, true, "^ok$", 10*time.Second)
	if v := metricValue(t, m, "reconfig_watch_ranges_failing"); v != 0 {
		t.Errorf("reconfig_watch_ranges_failing = %v, want 0", v)
	}
	if strings.Contains(h.logs.String(), "watch interrupted") || strings.Contains(h.logs.String(), "cannot watch") {
		t.Fatalf("the daemon could not watch under the role's grant:\n%s", h.logs.String())
	}
}

// A range the role may read at start but not watch later (its permission
// revoked, then etcd restarted so every watch is created anew): health is
// 503 naming the range and the reason; once the grant is back the daemon
// recovers by itself.
func TestRangeThatCannotBeWatchedIsUnhealthy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "etcd")
	clientURL, peerURL := "http://"+etcdtest.FreeAddr(), "http://"+etcdtest.FreeAddr()
	opts := embedded.Options{Dir: dir, ClientURL: clientURL, PeerURL: peerURL, Fast: true}
	srv, err := embedded.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Load(context.Background(), map[string]string{"/app/a": "1", "/db/host": "h1"}); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/app/"})
	etcdtest.GrantRead(t, srv, "rootpw", "reader", "/db/")

	h := newHarness(t, map[string]string{
		"templates/kv.tmpl": kvTemplate,
		"conf.d/app":        `{"id": "app", "key": "/app/", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf"}`,
		"conf.d/db":         `{"id": "db", "key": "/db/", "recursive": true, "source": "kv.tmpl", "target": "$OUT/db.conf"}`,
	})
	m := watch.NewMetrics()
	h.start([]string{clientURL}, func(o *watch.Options) {
		asUser(clientURL, "reader", "readpw")(o)
		o.Metrics = m
	})
	h.awaitContent("db.conf", "host=h1\n", 10*time.Second)
	awaitHealth(t, m, true, "^ok$", 10*time.Second)

	etcdtest.RevokeRead(t, srv, "rootpw", "reader", "/db/")
	srv.Close()
	srv, err = embedded.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)

	reason := awaitHealth(t, m, false, `/db/.*permission denied|permission denied.*/db/`, 30*time.Second)
	t.Logf("health: %s", reason)

	etcdtest.GrantRead(t, srv, "rootpw", "reader", "/db/")
	awaitHealth(t, m, true, "^ok$", 30*time.Second)
	root := connectAs(t, clientURL, "root", "rootpw")
	put(t, root, "/db/host", "h2")
	h.awaitContent("db.conf", "host=h2\n", 30*time.Second)
}

// Everything that arrived while a cycle ran goes into the next cycle: with
// a reload command held until the test releases it, 100 puts made during
// the first cycle are applied by exactly one more cycle, at the last put's
// revision.
func TestBurstDuringCycleIsOneCycle(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/burst/n", "0")
	dir := t.TempDir()
	reloads, release := filepath.Join(dir, "reloads"), filepath.Join(dir, "release")
	h := newHarness(t, map[string]string{
		"templates/t.tmpl": `n={{getv "/burst/n"}}`,
		"conf.d/b": `{"id": "b", "key": "/burst", "recursive": true, "source": "t.tmpl", "target": "$OUT/b.conf",
			"reloadcmd": "echo $RECONFIG_REVISION >> ` + reloads + `; while ! test -e ` + release + `; do sleep 0.01; done"}`,
	})
	m := watch.NewMetrics()
	h.start([]string{srv.ClientURL}, func(o *watch.Options) { o.Metrics = m })
	waitFor(t, "the first reload to start", func() bool { return strings.Count(readOrEmpty(reloads), "\n") == 1 })

	var last int64
	for i := 1; i <= 100; i++ {
		last = put(t, c, "/burst/n", fmt.Sprint(i))
	}
	// The daemon has received every event (it is still in its first
	// cycle's reload).
	waitFor(t, "the 100 events to arrive", func() bool {
		return metricValue(t, m, "reconfig_watch_events_total") >= 100
	})
	os.WriteFile(release, nil, 0o644)
	h.await("the cycle at the last put", 20*time.Second, func(cy watch.Cycle) bool { return cy.Revision == last && cy.Result != nil })
	if got := h.read("b.conf"); got != "n=100" {
		t.Fatalf("b.conf = %q, want n=100", got)
	}
	if got := readOrEmpty(reloads); got != fmt.Sprintf("2\n%d\n", last) {
		t.Fatalf("reloads at revisions %q, want the first cycle's and then one at %d", got, last)
	}
}

func readOrEmpty(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// waitFor waits up to 30s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metricValue reads a counter or gauge without labels from the daemon's
// registry.
func metricValue(t *testing.T, m *watch.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		mt := mf.GetMetric()[0]
		if mt.GetCounter() != nil {
			return mt.GetCounter().GetValue()
		}
		return mt.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Health tells the truth within seconds: etcd killed (connection refused)
// and etcd frozen (SIGSTOP) each make the daemon unhealthy, logged once,
// and it recovers by itself when etcd is back.
func TestHealthFollowsEtcd(t *testing.T) {
	t.Parallel()
	p := etcdtest.StartProcess(t, embedded.Options{})
	c := connect(t, p.ClientURL)
	put(t, c, "/app/a", "1")
	h := newHarness(t, oneBinding)
	m := watch.NewMetrics()
	h.start([]string{p.ClientURL}, func(o *watch.Options) {
		o.Metrics = m
		// The defaults: detection times are part of what is tested.
		o.BackoffMin, o.BackoffMax = 0, 0
	})
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)
	awaitHealth(t, m, true, "^ok$", 10*time.Second)

	outage := func(name string, down, up func(), want string) {
		t.Helper()
		warnings := strings.Count(h.logs.String(), "level=WARN")
		start := time.Now()
		down()
		reason := awaitHealth(t, m, false, want, 30*time.Second)
		t.Logf("%s: unhealthy after %s: %s", name, time.Since(start).Round(100*time.Millisecond), reason)
		if v := metricValue(t, m, "reconfig_etcd_connected"); v != 0 {
			t.Errorf("%s: reconfig_etcd_connected = %v while unhealthy", name, v)
		}
		// The daemon retries (quietly) a few times before etcd comes back.
		retries := strings.Count(h.logs.String(), `level=DEBUG msg="etcd unreachable`)
		waitFor(t, "two retries", func() bool {
			return strings.Count(h.logs.String(), `level=DEBUG msg="etcd unreachable`) >= retries+2
		})
		if n := strings.Count(h.logs.String(), "level=WARN") - warnings; n != 1 {
			t.Errorf("%s: %d warnings during the outage, want 1:\n%s", name, n, h.logs.String())
		}
		start = time.Now()
		up()
		awaitHealth(t, m, true, "^ok$", 60*time.Second)
		t.Logf("%s: healthy %s after etcd was back", name, time.Since(start).Round(100*time.Millisecond))
	}
	outage("killed", p.Kill, p.Start, "lost the connection to etcd|etcd unreachable|lost etcd")
	put(t, c, "/app/a", "2")
	h.awaitContent("app.conf", "a=2\n", 30*time.Second)

	outage("frozen", func() { p.Signal(syscall.SIGSTOP) }, func() { p.Signal(syscall.SIGCONT) }, "progress request|lost etcd|etcd unreachable")
	put(t, c, "/app/a", "3")
	h.awaitContent("app.conf", "a=3\n", 30*time.Second)
	if !strings.Contains(h.logs.String(), "etcd answers again") {
		t.Errorf("the recovery was not logged:\n%s", h.logs.String())
	}
}

// An unusable state file holds cycles back with growing delays, each said
// once, instead of a line a second forever; once it is fixed, the daemon
// converges without a change in etcd.
func TestUnusableStateBacksOff(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/app/a", "1")
	h := newHarness(t, oneBinding)
	h.write("state.json", "{not json")
	m := watch.NewMetrics()
	h.start([]string{srv.ClientURL}, func(o *watch.Options) {
		o.Metrics = m
		o.BackoffMin, o.BackoffMax = 50*time.Millisecond, 800*time.Millisecond
	})
	rx := regexp.MustCompile(`msg="cycle skipped: no file is touched; it is tried again" error="the state cannot be used: state file \S+ is corrupt: [^"]*" retry_in=(\S+)`)
	var delays []time.Duration
	waitFor(t, "six refusals", func() bool {
		delays = delays[:0]
		for _, m := range rx.FindAllStringSubmatch(h.logs.String(), -1) {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			delays = append(delays, d)
		}
		return len(delays) >= 6
	})
	// 50ms, 100ms, 200ms, 400ms, 800ms, 800ms… each ±20%.
	for i := 1; i < 5; i++ {
		if delays[i] < delays[i-1]*5/4 {
			t.Fatalf("retry delays %v do not grow", delays)
		}
	}
	if delays[5] < 600*time.Millisecond || delays[5] > 1000*time.Millisecond {
		t.Fatalf("retry delays %v, want them capped at 800ms±20%%", delays)
	}
	reason := awaitHealth(t, m, false, "cycles cannot run: the state cannot be used", time.Second)
	t.Logf("health: %s", reason)
	if _, err := os.Stat(filepath.Join(h.out, "app.conf")); !os.IsNotExist(err) {
		t.Fatalf("a target was written while the state was unusable")
	}

	os.Remove(filepath.Join(h.cfg, "state.json"))
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)
	awaitHealth(t, m, true, "^ok$", 10*time.Second)
}

// A binding whose check fails slowly is retried on its own schedule: it
// never runs in the cycles of other bindings' changes, so they converge
// at once; a change of its own keys and its retries still try it.
func TestFailingBindingDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/bad/k", "1")
	put(t, c, "/good/k", "1")
	checks := filepath.Join(t.TempDir(), "checks")
	h := newHarness(t, map[string]string{
		"templates/kv.tmpl": kvTemplate,
		"conf.d/bad": `{"id": "bad", "key": "/bad", "recursive": true, "source": "kv.tmpl", "target": "$OUT/bad.conf",
			"checkcmd": "echo run >> ` + checks + `; sleep 1; test -e {{.src}} && exit 1"}`,
		"conf.d/good": `{"id": "good", "key": "/good", "recursive": true, "source": "kv.tmpl", "target": "$OUT/good.conf"}`,
	})
	m := watch.NewMetrics()
	h.start([]string{srv.ClientURL}, func(o *watch.Options) {
		o.RetryMin, o.RetryMax = 3*time.Second, time.Minute
		o.Metrics = m
	})
	h.await("bad to fail", 10*time.Second, func(cy watch.Cycle) bool { return cy.Result != nil && cy.Result.Failed() })

	for i := 2; i <= 6; i++ {
		rev := put(t, c, "/good/k", fmt.Sprint(i))
		cy := h.await("good's cycle", 10*time.Second, func(cy watch.Cycle) bool { return cy.Revision >= rev && cy.Plan != nil })
		for _, ch := range cy.Plan.Changes {
			if ch.ID != "good" {
				t.Fatalf("the cycle of good's change also planned %q", ch.ID)
			}
		}
	}
	if got := h.read("good.conf"); got != "k=6\n" {
		t.Fatalf("good.conf = %q", got)
	}
	// good's cycles succeeded, but bad still fails: health says so.
	if ok, reason := m.Health(); ok || !strings.Contains(reason, "bindings failing (each tried again on its own schedule): bad") {
		t.Fatalf("health (%v, %q) while bad fails", ok, reason)
	}
	// Its own key's change tries it; so does its retry.
	runs := strings.Count(readOrEmpty(checks), "\n")
	put(t, c, "/bad/k", "2")
	waitFor(t, "bad's check to run for its change", func() bool { return strings.Count(readOrEmpty(checks), "\n") > runs })
	waitFor(t, "bad's retry", func() bool { return strings.Count(readOrEmpty(checks), "\n") > runs+1 })
	if _, err := os.Stat(filepath.Join(h.out, "bad.conf")); !os.IsNotExist(err) {
		t.Fatal("bad.conf written although its check fails")
	}
}

// A change that arrives while another reconfig holds the state lock (a
// cron apply waiting at its prompt) is applied once the lock is free —
// without another change in etcd, not at the next resync — and health
// stops naming the lock.
func TestChangeWhileLockHeldIsApplied(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/app/a", "1")
	h := newHarness(t, oneBinding)
	m := watch.NewMetrics()
	h.start([]string{srv.ClientURL}, func(o *watch.Options) {
		o.Metrics = m
		o.LockWait = 100 * time.Millisecond
	})
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)

	lock, err := state.Acquire(context.Background(), filepath.Join(h.cfg, "state.json"), "apply", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, "/app/a", "2")
	h.await("a cycle refused for the lock", 10*time.Second, func(cy watch.Cycle) bool { return cy.Err != nil })
	awaitHealth(t, m, false, "locked", 10*time.Second)
	lock.Release()

	h.awaitContent("app.conf", "a=2\n", 10*time.Second)
	awaitHealth(t, m, true, "^ok$", 10*time.Second)
}

package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Missing data never empties a file. Targets hold good content; etcd is
// down when `reconfig watch` and `reconfig apply` start, then comes up
// empty, then gets data, which then goes away: a recursive key emptied, a
// non-recursive key deleted, a key whose lease expires. Every binding
// without allow_empty is skipped each time — its target never written,
// the skip logged with its reason — and the one with allow_empty renders
// the empty data as asked.
func TestMissingDataNeverEmptiesATarget(t *testing.T) {
	t.Parallel()
	addr := etcdtest.FreeAddr()
	f := newFixture(t, "http://"+addr)
	f.extraEnv = append(f.extraEnv, "RECONFIG_DIAL_TIMEOUT=1s")
	f.write("templates/kv.tmpl", kvTemplate)
	f.binding("app", map[string]any{"key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf"})
	f.binding("single", map[string]any{"key": "/single", "source": "kv.tmpl", "target": "$OUT/single.conf"})
	f.binding("leased", map[string]any{"key": "/leased", "source": "kv.tmpl", "target": "$OUT/leased.conf"})
	f.binding("opt", map[string]any{"key": "/opt", "recursive": true, "source": "kv.tmpl", "target": "$OUT/opt.conf", "allow_empty": true})
	good := map[string]string{"app.conf": "a=good\n", "single.conf": "single=good\n", "leased.conf": "leased=good\n", "opt.conf": "x=good\n"}
	for name, content := range good {
		f.write(f.target(name), content)
	}
	events := watchDir(t, f.out)
	untouched := func(when string, names ...string) {
		t.Helper()
		for _, name := range names {
			if got := readFile(t, f.target(name)); got != good[name] {
				t.Fatalf("%s: %s holds %q, want its content %q untouched", when, name, got, good[name])
			}
			if evs := events.writesTo(0, name); len(evs) > 0 {
				t.Fatalf("%s: %s was written: %+v", when, name, evs)
			}
		}
	}

	// etcd down: apply refuses with a clear error, the daemon retries;
	// nothing is written.
	r := f.run("apply", "--auto-approve")
	if r.code != 1 || !strings.Contains(r.stderr, "reconfig: error: cannot reach etcd at http://"+addr) || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("apply with etcd down: %s", r)
	}
	d := f.startWatch()
	d.awaitLog("etcd unreachable; no file is touched until it answers", 2, 30*time.Second)
	untouched("etcd down", "app.conf", "single.conf", "leased.conf", "opt.conf")

	// etcd up, empty: skips, and allow_empty renders nothing.
	srv := etcdtest.Start(t, embedded.Options{ClientURL: "http://" + addr})
	awaitContent(t, f.target("opt.conf"), "", 30*time.Second)
	for _, want := range []string{
		`id=app target=` + f.target("app.conf"),
		`reason="no keys under /app; the target is left as it is`,
		`reason="key /single does not exist; the target is left as it is`,
		`reason="key /leased does not exist; the target is left as it is`,
	} {
		d.awaitLog(want, 1, 10*time.Second)
	}
	untouched("etcd up but empty", "app.conf", "single.conf", "leased.conf")

	// Data: every target converges.
	c := client(t, srv.ClientURL)
	ctx := context.Background()
	for k, v := range map[string]string{"/app/a": "1", "/single": "s", "/opt/x": "1"} {
		etcdtest.PutEventually(t, c, k, v)
	}
	if _, err := c.Put(ctx, "/leased", "l", 1); err != nil { // a one-second lease
		t.Fatal(err)
	}
	converged := map[string]string{"app.conf": "a=1\n", "single.conf": "single=s\n", "leased.conf": "leased=l\n", "opt.conf": "x=1\n"}
	for name, want := range converged {
		awaitContent(t, f.target(name), want, 30*time.Second)
	}

	// The data goes: the lease expires, the prefix is emptied, the key
	// deleted.
	skipsBefore := strings.Count(d.log.String(), "binding skipped")
	mark := events.settle(t, f.out)
	if _, err := c.Delete(ctx, "/app", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "/single", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "/opt", true); err != nil {
		t.Fatal(err)
	}
	awaitContent(t, f.target("opt.conf"), "", 30*time.Second)
	d.awaitLog("binding skipped", skipsBefore+3, 30*time.Second) // app, single, and leased once its lease expired
	eventually(t, 30*time.Second, "the lease to expire and leased to be skipped", func() bool {
		l := d.log.String()
		i := strings.LastIndex(l, `reason="key /leased does not exist`)
		return i > 0 && strings.Count(l[:i], "binding skipped") > skipsBefore
	})
	for _, name := range []string{"app.conf", "single.conf", "leased.conf"} {
		if got := readFile(t, f.target(name)); got != converged[name] {
			t.Fatalf("%s holds %q after its data went, want %q untouched", name, got, converged[name])
		}
		if evs := events.writesTo(mark, name); len(evs) > 0 {
			t.Fatalf("%s was written after its data went: %+v", name, evs)
		}
	}
	// apply says the same, and writes nothing.
	r = f.run("apply", "--auto-approve")
	if r.code != 0 || !strings.Contains(r.stdout, "Skipped:") || strings.Count(r.stdout, "the target is left as it is") != 3 {
		t.Fatalf("apply with missing data: %s", r)
	}
	for _, name := range []string{"app.conf", "single.conf", "leased.conf"} {
		if evs := events.writesTo(mark, name); len(evs) > 0 {
			t.Fatalf("%s was written by apply: %+v", name, evs)
		}
	}
	d.alive()
}

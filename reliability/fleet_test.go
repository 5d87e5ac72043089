package reliability

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// fleetTTL is the lease of the test fleets' daemons: short, so that a
// killed host leaves within the test.
const fleetTTL = "2s"

var fleetKeys = fleet.NewKeys("")

// fleetHost runs `reconfig watch --fleet --name name` as a process, with
// the app binding (recursive /app).
func fleetHost(t *testing.T, endpoints, name string, args ...string) (*fixture, *daemon) {
	t.Helper()
	f := appFixture(t, endpoints)
	d := f.startWatch(append([]string{"--fleet", "--name", name, "--fleet-ttl", fleetTTL}, args...)...)
	return f, d
}

// awaitHost follows name's status until ok accepts it (nil: no status).
func awaitHost(t *testing.T, c *etcd.Client, keys fleet.Keys, name, what string, ok func(*fleet.Status) bool) *fleet.Status {
	t.Helper()
	return etcdtest.AwaitStatus(t, c, keys, name, what, 30*time.Second, ok)
}

func present(s *fleet.Status) bool { return s != nil }

// kill kills the daemon with SIGKILL and waits for it to be gone; the
// test's end then expects nothing more of it.
func (d *daemon) kill() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.err = nil
}

// A host killed with SIGKILL leaves the fleet when its lease expires; the
// others stay. Started again at once, as systemd would, it takes its name
// back without calling itself a duplicate of its dead self.
func TestFleetHostKilled(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	_, a := fleetHost(t, srv.ClientURL, "a")
	fb, b := fleetHost(t, srv.ClientURL, "b")
	awaitHost(t, c, fleetKeys, "a", "a's status", present)
	first := awaitHost(t, c, fleetKeys, "b", "b's status", present)

	b.kill()
	awaitHost(t, c, fleetKeys, "b", "b's status to expire with its lease", func(s *fleet.Status) bool { return s == nil })
	if entries, _, err := c.List(context.Background(), fleetKeys.Hosts()); err != nil || len(entries) != 1 || fleetKeys.NameOf(entries[0].Key) != "a" {
		t.Fatalf("hosts after b was killed: %v %v, want only a", entries, err)
	}
	a.alive()

	// Killed again, and started again before the lease expired.
	b2 := fb.startWatch("--fleet", "--name", "b", "--fleet-ttl", fleetTTL)
	s := awaitHost(t, c, fleetKeys, "b", "b back", func(s *fleet.Status) bool { return s != nil && s.PID != first.PID })
	b2.kill()
	b3 := fb.startWatch("--fleet", "--name", "b", "--fleet-ttl", fleetTTL)
	s3 := awaitHost(t, c, fleetKeys, "b", "b back after a kill", func(n *fleet.Status) bool { return n != nil && n.PID != s.PID })
	if len(s3.Duplicates) > 0 || !s3.Healthy || strings.Contains(b3.log.String(), "another daemon reports under this name") {
		t.Fatalf("a daemon started after its predecessor was killed called it a duplicate: %+v\n%s", s3, b3.log.String())
	}
}

// Two daemons given the same name both report it, and the status says so:
// they are never merged into one host silently.
func TestFleetDuplicateName(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	_, one := fleetHost(t, srv.ClientURL, "web1")
	awaitHost(t, c, fleetKeys, "web1", "the first web1", present)
	_, two := fleetHost(t, srv.ClientURL, "web1")
	s := awaitHost(t, c, fleetKeys, "web1", "web1 reported as duplicated", func(s *fleet.Status) bool { return s != nil && len(s.Duplicates) == 1 })
	if s.Healthy || !strings.Contains(s.Problem, "duplicate name web1: also claimed by pid ") {
		t.Errorf("status of a duplicated name: healthy %v, problem %q", s.Healthy, s.Problem)
	}
	one.awaitLog("another daemon reports under this name", 1, 20*time.Second)
	two.awaitLog("another daemon reports under this name", 1, 20*time.Second)
}

// A role that may read its keys but not write the fleet's is told so at
// start, exit 1, and no target is written.
func TestFleetReadOnlyRole(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	if _, err := srv.Load(context.Background(), map[string]string{"/app/a": "1"}); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/"})
	f := appFixture(t, srv.ClientURL)
	f.extraEnv = append(f.extraEnv, "RECONFIG_USER=reader", "RECONFIG_PASSWORD=readpw")
	r := f.run("watch", "--fleet", "--name", "a")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot write the fleet keys under /reconfig/") ||
		!strings.Contains(r.stderr, "etcdctl role grant-permission ROLE readwrite --prefix /reconfig/") {
		t.Fatalf("watch --fleet under a read-only role: %s", r)
	}
	if _, err := os.Lstat(f.target("app.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a daemon that could not join its fleet wrote its target (%v)", err)
	}
}

// Under --prefix the fleet keys are under the prefix like every key.
func TestFleetUnderPrefix(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/tenant/app/a", "1")
	f, _ := fleetHost(t, srv.ClientURL, "a", "--prefix", "/tenant")
	awaitContent(t, f.target("app.conf"), "a=1\n", 20*time.Second)
	s := awaitHost(t, c, fleet.NewKeys("/tenant/reconfig"), "a", "the status under the prefix", present)
	if s.Name != "a" || s.Group != "default" {
		t.Errorf("status under the prefix: %+v", s)
	}
	if entries, _, _ := c.List(context.Background(), fleetKeys.All()); len(entries) != 0 {
		t.Errorf("fleet keys outside the prefix: %v", entries)
	}
}

// A deploy pipeline against a fleet of daemon processes: `fleet wait`
// exits 0 only once every host applied the change (the targets hold it
// when it returns), counting a host none of whose keys changed; 1 at once
// when a host's check refuses the change, naming host, binding and error;
// 2 when hosts do not get there in time (here: held), naming them; and a
// release lets the held change through.
func TestFleetWaitWithDaemons(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	etcdtest.PutEventually(t, c, "/other/x", "1")
	fa, _ := fleetHost(t, srv.ClientURL, "a")
	// b refuses any content that says "bad".
	fb := newFixture(t, srv.ClientURL)
	fb.write("templates/kv.tmpl", kvTemplate)
	fb.binding("app", map[string]any{"key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf",
		"checkcmd": "! grep -q bad {{.src}}"})
	fb.startWatch("--fleet", "--name", "b", "--fleet-ttl", fleetTTL)
	// c reads keys that never change.
	fc := newFixture(t, srv.ClientURL)
	fc.write("templates/kv.tmpl", kvTemplate)
	fc.binding("other", map[string]any{"key": "/other", "recursive": true, "source": "kv.tmpl", "target": "$OUT/other.conf"})
	fc.startWatch("--fleet", "--name", "c", "--fleet-ttl", fleetTTL, "--group", "quiet")
	for _, name := range []string{"a", "b", "c"} {
		awaitHost(t, c, fleetKeys, name, name+"'s first report", present)
	}

	etcdtest.PutEventually(t, c, "/app/a", "2")
	r := fa.run("fleet", "wait", "--timeout", "30s", "--min-hosts", "3")
	if r.code != 0 || !strings.Contains(r.stdout, "Converged: 3 hosts at revision") {
		t.Fatalf("fleet wait after a good change: %s", r)
	}
	for _, f := range []*fixture{fa, fb} {
		if got, _ := os.ReadFile(f.target("app.conf")); string(got) != "a=2\n" {
			t.Errorf("fleet wait exited 0 while %s holds %q", f.target("app.conf"), got)
		}
	}

	etcdtest.PutEventually(t, c, "/app/a", "bad")
	r = fa.run("fleet", "wait", "--timeout", "30s")
	if r.code != 1 || !strings.Contains(r.stdout, "Failed: host b at revision") || !strings.Contains(r.stdout, "binding app ("+fb.target("app.conf")+"): ") {
		t.Fatalf("fleet wait after a change b's check refuses: %s", r)
	}
	if got, _ := os.ReadFile(fb.target("app.conf")); string(got) != "a=2\n" {
		t.Errorf("b's refused target holds %q", got)
	}
	etcdtest.PutEventually(t, c, "/app/a", "3")
	if r = fa.run("fleet", "wait", "--timeout", "30s"); r.code != 0 {
		t.Fatalf("fleet wait after the value was fixed: %s", r)
	}

	if r = fa.run("fleet", "hold", "--reason", "INC-1"); r.code != 0 {
		t.Fatalf("fleet hold: %s", r)
	}
	etcdtest.PutEventually(t, c, "/app/a", "4")
	r = fa.run("fleet", "wait", "--timeout", "3s", "--group", "default")
	if r.code != 2 || !strings.Contains(r.stdout, "Timed out after") || !strings.Contains(r.stdout, "  a at revision") || !strings.Contains(r.stdout, "held: INC-1") {
		t.Fatalf("fleet wait while held: %s", r)
	}
	for _, f := range []*fixture{fa, fb} {
		if got, _ := os.ReadFile(f.target("app.conf")); string(got) != "a=3\n" {
			t.Errorf("a held host wrote %q", got)
		}
	}
	// The quiet group has nothing to apply: it is at the revision, held
	// or not.
	if r = fa.run("fleet", "wait", "--timeout", "30s", "--group", "quiet"); r.code != 0 {
		t.Fatalf("fleet wait --group quiet while held: %s", r)
	}
	if r = fa.run("fleet", "release"); r.code != 0 {
		t.Fatalf("fleet release: %s", r)
	}
	if r = fa.run("fleet", "wait", "--timeout", "30s", "--min-hosts", "3"); r.code != 0 {
		t.Fatalf("fleet wait after the release: %s", r)
	}
	for _, f := range []*fixture{fa, fb} {
		if got, _ := os.ReadFile(f.target("app.conf")); string(got) != "a=4\n" {
			t.Errorf("after the release %s holds %q", f.target("app.conf"), got)
		}
	}

	r = fa.run("fleet", "status", "--detailed-exitcode")
	if r.code != 0 || !strings.Contains(r.stdout, "Fleet: 3 hosts, 3 at revision") {
		t.Fatalf("fleet status of a converged fleet: %s", r)
	}
}

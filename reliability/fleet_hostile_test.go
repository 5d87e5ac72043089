package reliability

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Two canaries, --follow-min 1: one applies a change healthy, the other's
// check refuses it. The failed canary stops the rollout — followers stay
// below the change once the healthy canary's report has baked — and a fix
// at a later revision lets them go straight there.
func TestCanaryOneOfTwoFails(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	good := appFixture(t, srv.ClientURL)
	good.startWatch("--fleet", "--name", "c1", "--group", "canary", "--fleet-ttl", fleetTTL)
	strict := checkedFixture(t, srv.ClientURL)
	strict.startWatch("--fleet", "--name", "c2", "--group", "canary", "--fleet-ttl", fleetTTL)
	follower := checkedFixture(t, srv.ClientURL)
	// The bake outlasts the failing canary's report, which comes later
	// than the healthy one's (its check runs first): --follow-min 1 lets
	// one healthy canary vouch on its own until another reports failure.
	const bake = 5 * time.Second
	follower.startWatch("--fleet", "--name", "f1", "--fleet-ttl", fleetTTL, "--follow", "canary", "--bake", bake.String())
	awaitContent(t, follower.target("app.conf"), "a=1\n", 20*time.Second)

	bad := etcdtest.PutEventually(t, c, "/app/a", "bad")
	c1 := awaitHost(t, c, fleetKeys, "c1", "c1 at the change", func(s *fleet.Status) bool { return s != nil && s.At >= bad && s.Healthy })
	awaitHost(t, c, fleetKeys, "c2", "c2 failed at the change", func(s *fleet.Status) bool { return s != nil && s.At >= bad && s.Counts.Failed > 0 })
	// A report of the follower made after c1's report has baked says
	// where the gate is.
	var s *fleet.Status
	eventually(t, 30*time.Second, "the follower's report after the bake", func() bool {
		barrierFor(t, c)
		s = awaitHost(t, c, fleetKeys, "f1", "the follower's report", present)
		return s.Reported.After(c1.Reported.Add(bake+time.Second)) && s.Following != nil && strings.Contains(s.Following.Reason, "canary c2 failed at")
	})
	if s.At >= bad || s.Following.Gate >= bad {
		t.Errorf("with canary c2 failed at %d, the follower is at %d, gate %d", bad, s.At, s.Following.Gate)
	}
	if strings.Contains(checked(follower), "bad") {
		t.Fatalf("the follower rendered the change canary c2 refused: it checked %q", checked(follower))
	}

	etcdtest.PutEventually(t, c, "/app/a", "3")
	awaitContent(t, follower.target("app.conf"), "a=3\n", 30*time.Second)
	if strings.Contains(checked(follower), "bad") {
		t.Errorf("the follower rendered the refused revision on its way to the fix: it checked %q", checked(follower))
	}
}

// A brief under the followed group that claims a revision etcd has not
// reached (written by hand, or by anyone who may write the fleet prefix)
// cannot be rendered: it holds the followers and they say which brief it
// is, and once it is deleted they follow their real canary again. A
// promotion to a revision etcd has not reached is refused by fleet
// promote, and one written by hand moves no follower.
func TestCanaryBriefFromTheFuture(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	canary := appFixture(t, srv.ClientURL)
	canary.startWatch("--fleet", "--name", "c1", "--group", "canary", "--fleet-ttl", fleetTTL)
	follower := appFixture(t, srv.ClientURL)
	follower.startWatch("--fleet", "--name", "f1", "--fleet-ttl", fleetTTL, "--follow", "canary")
	awaitContent(t, follower.target("app.conf"), "a=1\n", 20*time.Second)

	const future = int64(1) << 40
	forged, _ := json.Marshal(fleet.Brief{At: future, Healthy: true, Reported: time.Now()})
	etcdtest.PutEventually(t, c, fleetKeys.Member("canary", "evil"), string(forged))
	rev := etcdtest.PutEventually(t, c, "/app/a", "2")
	awaitHost(t, c, fleetKeys, "c1", "the canary at the change", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
	s := awaitHost(t, c, fleetKeys, "f1", "the follower naming the brief from the future", func(s *fleet.Status) bool {
		return s != nil && s.Following != nil && strings.Contains(s.Following.Reason, "canary evil reports revision 1099511627776")
	})
	if s.Following.Gate >= future {
		t.Errorf("the follower's gate is %d, from a brief etcd never had the revision of", s.Following.Gate)
	}
	if _, err := c.Delete(context.Background(), fleetKeys.Member("canary", "evil"), false); err != nil {
		t.Fatal(err)
	}
	awaitContent(t, follower.target("app.conf"), "a=2\n", 20*time.Second)

	r := follower.run("fleet", "promote", "--revision", "1099511627776")
	if r.code != 1 || !strings.Contains(r.stderr, "revision 1099511627776 is beyond etcd's revision") {
		t.Fatalf("fleet promote to a revision etcd has not reached: %s", r)
	}
	promote, _ := json.Marshal(fleet.Promote{Revision: future, User: "mallory", Since: time.Now()})
	etcdtest.PutEventually(t, c, fleetKeys.Promote(), string(promote))
	rev = etcdtest.PutEventually(t, c, "/app/a", "3")
	awaitContent(t, canary.target("app.conf"), "a=3\n", 20*time.Second)
	awaitContent(t, follower.target("app.conf"), "a=3\n", 20*time.Second)
	s = awaitHost(t, c, fleetKeys, "f1", "the follower at the change", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
	if s.Following.Gate >= future || s.Following.Promoted != nil {
		t.Errorf("a promotion to a revision etcd has not reached moved the follower: %+v", s.Following)
	}
	if got, _ := os.ReadFile(follower.target("app.conf")); string(got) != "a=3\n" {
		t.Errorf("follower holds %q", got)
	}
}

// healthz is the daemon's /healthz: its status code and body.
func healthz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// A role whose right to write the fleet prefix is revoked while the daemon
// runs (it may still read everything): the daemon goes on applying, and
// its /healthz says that its reports cannot be written, naming the key —
// the fleet sees its last report, which its lease keeps alive, so the
// daemon's own health is where it shows. Its lease lost as well, it cannot
// join the fleet again and still goes on applying (before: it exited).
// The grant back, the report is written and health is ok again.
func TestFleetWriteRevokedWhileRunning(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	if _, err := srv.Load(context.Background(), map[string]string{"/app/a": "1"}); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "host", Password: "hostpw", ReadPrefix: "/"})
	root := etcdtest.RootClient(t, srv, "rootpw")
	ctx := context.Background()
	fleetEnd := clientv3.GetPrefixRangeEnd(fleetKeys.All())
	grant := func() {
		t.Helper()
		if _, err := root.RoleGrantPermission(ctx, "host-read", fleetKeys.All(), fleetEnd, clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
			t.Fatal(err)
		}
	}
	grant()
	c, err := etcd.Connect(ctx, etcd.Config{Endpoints: []string{srv.ClientURL}, Username: "root", Password: "rootpw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	f := appFixture(t, srv.ClientURL)
	f.extraEnv = append(f.extraEnv, "RECONFIG_USER=host", "RECONFIG_PASSWORD=hostpw")
	metrics := etcdtest.FreeAddr()
	d := f.startWatch("--fleet", "--name", "a", "--fleet-ttl", fleetTTL, "--metrics-addr", metrics)
	awaitHost(t, c, fleetKeys, "a", "a's first report", present)
	eventually(t, 20*time.Second, "/healthz to say ok", func() bool { code, _ := healthz(metrics); return code == http.StatusOK })

	if _, err := root.RoleRevokePermission(ctx, "host-read", fleetKeys.All(), fleetEnd); err != nil {
		t.Fatal(err)
	}
	rev := etcdtest.PutEventually(t, c, "/app/a", "2")
	awaitContent(t, f.target("app.conf"), "a=2\n", 20*time.Second)
	var body string
	eventually(t, 20*time.Second, "/healthz to say the report cannot be written", func() bool {
		var code int
		code, body = healthz(metrics)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "cannot write the fleet status to /reconfig/hosts/a")
	})
	if !strings.Contains(body, "permission denied") {
		t.Errorf("/healthz does not say why the report cannot be written: %q", body)
	}

	// The lease lost too (etcd away longer than its TTL): the daemon
	// cannot join again, and goes on applying all the same.
	resp, err := root.Get(ctx, fleetKeys.Host("a"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read a's status: %v %v", resp, err)
	}
	if _, err := root.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	d.awaitLog("cannot join the fleet; applying goes on", 1, 20*time.Second)
	rev = etcdtest.PutEventually(t, c, "/app/a", "3")
	awaitContent(t, f.target("app.conf"), "a=3\n", 20*time.Second)
	if code, body := healthz(metrics); code != http.StatusServiceUnavailable || !strings.Contains(body, "cannot write the fleet status to /reconfig/hosts/a") {
		t.Errorf("/healthz of a daemon that cannot join its fleet: %d %q", code, body)
	}

	grant()
	awaitHost(t, c, fleetKeys, "a", "a's report at the change", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
	eventually(t, 40*time.Second, "/healthz to say ok again", func() bool { code, _ := healthz(metrics); return code == http.StatusOK })
}

// etcd frozen (SIGSTOP) while `fleet wait` waits on a host behind: when
// the time is up the wait does not print the fleet it knew before etcd
// stopped answering as where the hosts are — it says etcd does not answer
// and exits 1 (before: "Timed out … x at revision 1, behind", exit 2, from
// data as old as the freeze).
func TestFleetWaitEtcdFrozen(t *testing.T) {
	t.Parallel()
	p := etcdtest.StartProcess(t, embedded.Options{})
	c := client(t, p.ClientURL)
	behind, _ := json.Marshal(fleet.Status{Version: fleet.SchemaVersion, Name: "x", Group: "default", At: 1, Healthy: true, Reported: time.Now()})
	etcdtest.PutEventually(t, c, fleetKeys.Host("x"), string(behind))
	etcdtest.PutEventually(t, c, "/app/a", "1")
	f := newFixture(t, p.ClientURL)
	cmd := f.command("fleet", "wait", "--timeout", "5s")
	done := make(chan result, 1)
	go func() { done <- runCmdWithin(t, cmd, 60*time.Second) }()
	etcdtest.AwaitKey(t, c, fleetKeys.Barrier(), "the wait's barrier", 20*time.Second, func(_ string, exists bool) bool { return exists })
	p.Signal(syscall.SIGSTOP)
	defer p.Signal(syscall.SIGCONT)
	r := <-done
	if r.code != 1 || !strings.Contains(r.stderr, "etcd did not answer") || strings.Contains(r.stdout, "Timed out") {
		t.Fatalf("fleet wait with etcd frozen: %s", r)
	}
}

// The trust model of a fleet: a status is believed as written, so who may
// write a host's keys may speak for it. A role confined to one host's own
// keys (its status, its brief, its claims) and to reading the control keys
// is all a daemon needs: it reports, obeys a hold and answers barriers,
// and cannot write another host's status or the hold.
func TestFleetRoleConfinedToItsOwnKeys(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	if _, err := srv.Load(context.Background(), map[string]string{"/app/a": "1"}); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "web1", Password: "web1pw", ReadPrefix: "/app/"})
	root := etcdtest.RootClient(t, srv, "rootpw")
	ctx := context.Background()
	for _, g := range []struct {
		key, end string
		perm     clientv3.PermissionType
	}{
		{fleetKeys.Host("web1"), "", clientv3.PermissionType(clientv3.PermReadWrite)},
		{fleetKeys.Member("default", "web1"), "", clientv3.PermissionType(clientv3.PermReadWrite)},
		{fleetKeys.Claims("web1"), clientv3.GetPrefixRangeEnd(fleetKeys.Claims("web1")), clientv3.PermissionType(clientv3.PermReadWrite)},
		{fleetKeys.Control(), clientv3.GetPrefixRangeEnd(fleetKeys.Control()), clientv3.PermissionType(clientv3.PermRead)},
	} {
		if _, err := root.RoleGrantPermission(ctx, "web1-read", g.key, g.end, g.perm); err != nil {
			t.Fatal(err)
		}
	}
	c, err := etcd.Connect(ctx, etcd.Config{Endpoints: []string{srv.ClientURL}, Username: "root", Password: "rootpw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	f := appFixture(t, srv.ClientURL)
	f.extraEnv = append(f.extraEnv, "RECONFIG_USER=web1", "RECONFIG_PASSWORD=web1pw")
	metrics := etcdtest.FreeAddr()
	d := f.startWatch("--fleet", "--name", "web1", "--fleet-ttl", fleetTTL, "--metrics-addr", metrics)
	awaitHost(t, c, fleetKeys, "web1", "web1's first report", present)
	etcdtest.PutEventually(t, c, "/app/a", "2")
	admin := newFixture(t, srv.ClientURL)
	admin.extraEnv = append(admin.extraEnv, "RECONFIG_USER=root", "RECONFIG_PASSWORD=rootpw")
	if r := admin.run("fleet", "wait", "--timeout", "30s"); r.code != 0 {
		t.Fatalf("fleet wait on a host under a confined role: %s", r)
	}
	eventually(t, 20*time.Second, "/healthz to say ok", func() bool { code, _ := healthz(metrics); return code == http.StatusOK })
	if r := admin.run("fleet", "hold", "--reason", "INC-9"); r.code != 0 {
		t.Fatalf("fleet hold: %s", r)
	}
	awaitHost(t, c, fleetKeys, "web1", "web1 held", func(s *fleet.Status) bool { return s != nil && s.Held == "INC-9" })

	for _, key := range []string{fleetKeys.Host("web2"), fleetKeys.Hold(), fleetKeys.Member("default", "web2")} {
		if r := f.run("kv", "set", key, "{}"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
			t.Errorf("the confined role wrote %s: %s", key, r)
		}
	}
	d.alive()
}

// fleet promote to a revision etcd has compacted is refused: followers
// could not render it and would hold there, reporting that they cannot,
// until the gate moved past it.
func TestFleetPromoteCompactedRevision(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	old := etcdtest.PutEventually(t, c, "/app/a", "1")
	now := etcdtest.PutEventually(t, c, "/app/a", "2")
	if err := c.Compact(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, srv.ClientURL)
	r := f.run("fleet", "promote", "--revision", strconv.FormatInt(old, 10))
	if r.code != 1 || !strings.Contains(r.stderr, "is compacted: followers could not render it") {
		t.Fatalf("fleet promote to a compacted revision: %s", r)
	}
	if _, err := c.Get(context.Background(), fleetKeys.Promote()); err == nil {
		t.Fatal("the refused promotion was written")
	}
	if r := f.run("fleet", "promote", "--revision", strconv.FormatInt(now, 10)); r.code != 0 {
		t.Fatalf("fleet promote to etcd's revision: %s", r)
	}
}

// A hold whose reason is long (a pasted incident summary, 20 kB) is
// obeyed and reported: every host's status says it is held, within the
// status's bound (before: the status could not be encoded, so no host
// reported the hold or anything after it, and fleet status showed them
// as they were before it).
func TestFleetHoldLongReason(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	f, _ := fleetHost(t, srv.ClientURL, "a")
	awaitContent(t, f.target("app.conf"), "a=1\n", 20*time.Second)
	awaitHost(t, c, fleetKeys, "a", "a's first report", present)
	reason := "INC-7: " + strings.Repeat("the backends list is wrong; ", 800)
	if r := f.run("fleet", "hold", "--reason", reason); r.code != 0 {
		t.Fatalf("fleet hold: %s", r)
	}
	s := awaitHost(t, c, fleetKeys, "a", "a reporting the hold", func(s *fleet.Status) bool { return s != nil && s.Held != "" })
	if !strings.HasPrefix(s.Held, "INC-7: the backends list is wrong;") {
		t.Errorf("a reports held %q", s.Held)
	}
	rev := etcdtest.PutEventually(t, c, "/app/a", "2")
	r := f.run("fleet", "wait", "--timeout", "3s")
	if r.code != 2 || !strings.Contains(r.stdout, "held: INC-7") {
		t.Fatalf("fleet wait while held with a long reason: %s", r)
	}
	if got, _ := os.ReadFile(f.target("app.conf")); string(got) != "a=1\n" {
		t.Fatalf("a held host wrote %q at %d", got, rev)
	}
}

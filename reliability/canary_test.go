package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// canaryFleet is one canary and two followers of it, each a daemon
// process whose app binding (recursive /app) runs a check command that
// logs every content it is asked to check (to checked.log under its
// marks) and refuses content that says "bad".
type canaryFleet struct {
	t         *testing.T
	c         *etcd.Client
	endpoints string
	canary    *fixture
	followers []*fixture
	daemons   map[*fixture]*daemon
}

func checkedFixture(t *testing.T, endpoints string) *fixture {
	f := newFixture(t, endpoints)
	f.write("templates/kv.tmpl", kvTemplate)
	f.binding("app", map[string]any{"key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf",
		"checkcmd": "cat {{.src}} >> $MARKS/checked.log && ! grep -q bad {{.src}}"})
	return f
}

func newCanaryFleet(t *testing.T, followArgs ...string) *canaryFleet {
	t.Helper()
	srv := etcdtest.Start(t)
	cf := &canaryFleet{t: t, c: client(t, srv.ClientURL), endpoints: srv.ClientURL, daemons: map[*fixture]*daemon{}}
	etcdtest.PutEventually(t, cf.c, "/app/a", "1")
	cf.canary = checkedFixture(t, srv.ClientURL)
	cf.daemons[cf.canary] = cf.canary.startWatch("--fleet", "--name", "canary1", "--group", "canary", "--fleet-ttl", fleetTTL)
	awaitContent(t, cf.canary.target("app.conf"), "a=1\n", 20*time.Second)
	for _, name := range []string{"f1", "f2"} {
		f := checkedFixture(t, srv.ClientURL)
		args := append([]string{"--fleet", "--name", name, "--group", "web", "--fleet-ttl", fleetTTL, "--follow", "canary"}, followArgs...)
		cf.daemons[f] = f.startWatch(args...)
		cf.followers = append(cf.followers, f)
		awaitContent(t, f.target("app.conf"), "a=1\n", 20*time.Second)
	}
	return cf
}

// checked is every content the fixture's check command was asked about.
func checked(f *fixture) string {
	b, _ := os.ReadFile(f.marks + "/checked.log")
	return string(b)
}

// A good change reaches the canary first and the followers after it,
// never before the bake time has passed since the canary reported it.
func TestCanaryGoodChange(t *testing.T) {
	t.Parallel()
	cf := newCanaryFleet(t, "--bake", "1s")
	rev := etcdtest.PutEventually(t, cf.c, "/app/a", "2")
	reported := awaitHost(t, cf.c, fleetKeys, "canary1", "the canary at the change", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
	for _, f := range cf.followers {
		if got, _ := os.ReadFile(f.target("app.conf")); string(got) != "a=1\n" && time.Since(reported.Reported) < time.Second {
			t.Fatalf("a follower applied the change %s after the canary reported it, before the bake time", time.Since(reported.Reported))
		}
	}
	for _, name := range []string{"f1", "f2"} {
		s := awaitHost(t, cf.c, fleetKeys, name, name+" at the change", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
		if s.Following == nil || s.Following.Group != "canary" || s.Following.Gate < rev || s.Held != "" {
			t.Errorf("status of follower %s: %+v %+v", name, s, s.Following)
		}
		if s.AtTime.Before(reported.Reported.Add(time.Second)) {
			t.Errorf("follower %s reached %d at %s, less than the bake time after the canary reported it at %s", name, rev, s.AtTime, reported.Reported)
		}
	}
	for _, f := range cf.followers {
		awaitContent(t, f.target("app.conf"), "a=2\n", 20*time.Second)
	}
}

// A change the canary's check refuses never reaches a follower: they stay
// below it, say which canary failed and why, and fleet wait and fleet
// status name it. Fixed at a later revision, everyone converges there,
// and no follower ever rendered the bad revision.
func TestCanaryBadChange(t *testing.T) {
	t.Parallel()
	cf := newCanaryFleet(t)
	bad := etcdtest.PutEventually(t, cf.c, "/app/a", "bad")
	for _, name := range []string{"f1", "f2"} {
		s := awaitHost(t, cf.c, fleetKeys, name, name+" held back by the failed canary", func(s *fleet.Status) bool {
			return s != nil && s.Following != nil && strings.Contains(s.Following.Reason, "canary canary1 failed at")
		})
		if s.At >= bad || !strings.Contains(s.Held, "following canary: at ") {
			t.Errorf("follower %s while the canary fails: at %d (bad change %d), held %q", name, s.At, bad, s.Held)
		}
	}
	r := cf.canary.run("fleet", "wait", "--timeout", "20s")
	if r.code != 1 || !strings.Contains(r.stdout, "Failed: host canary1 at revision") {
		t.Fatalf("fleet wait with a failed canary: %s", r)
	}
	r = cf.canary.run("fleet", "status")
	if !strings.Contains(r.stdout, "following canary: at ") || !strings.Contains(r.stdout, "canary canary1 failed at") {
		t.Fatalf("fleet status with a failed canary: %s", r)
	}
	for _, f := range cf.followers {
		if got, _ := os.ReadFile(f.target("app.conf")); string(got) != "a=1\n" {
			t.Errorf("a follower applied %q past a failed canary", got)
		}
	}

	fixed := etcdtest.PutEventually(t, cf.c, "/app/a", "3")
	if r := cf.canary.run("fleet", "wait", "--timeout", "30s", "--min-hosts", "3"); r.code != 0 {
		t.Fatalf("fleet wait after the fix: %s", r)
	}
	for _, f := range cf.followers {
		awaitContent(t, f.target("app.conf"), "a=3\n", 20*time.Second)
		if strings.Contains(checked(f), "bad") {
			t.Errorf("a follower rendered the bad revision %d (fixed at %d): it checked %q", bad, fixed, checked(f))
		}
	}
}

// A canary that applies a change but then reports unhealthy at it (its
// reload fails) stops the followers too.
func TestCanaryUnhealthyAfterApply(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	canary := newFixture(t, srv.ClientURL)
	canary.write("templates/kv.tmpl", kvTemplate)
	canary.binding("app", map[string]any{"key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf",
		"reloadcmd": "! grep -q 2 $OUT/app.conf"})
	canary.startWatch("--fleet", "--name", "canary1", "--group", "canary", "--fleet-ttl", fleetTTL)
	follower := appFixture(t, srv.ClientURL)
	follower.startWatch("--fleet", "--name", "f1", "--fleet-ttl", fleetTTL, "--follow", "canary")
	awaitContent(t, follower.target("app.conf"), "a=1\n", 20*time.Second)

	rev := etcdtest.PutEventually(t, c, "/app/a", "2")
	awaitContent(t, canary.target("app.conf"), "a=2\n", 20*time.Second)
	s := awaitHost(t, c, fleetKeys, "f1", "the follower held back", func(s *fleet.Status) bool {
		return s != nil && s.Following != nil && strings.Contains(s.Following.Reason, "canary canary1 failed at")
	})
	if s.At >= rev {
		t.Fatalf("the follower is at %d, past the change %d its canary failed to reload", s.At, rev)
	}
	if got, _ := os.ReadFile(follower.target("app.conf")); string(got) != "a=1\n" {
		t.Fatalf("the follower applied %q", got)
	}
}

// Canary killed: followers hold and say so, however many changes come
// meanwhile (they keep no history of them: each follower renders once, at
// the gate, when it moves); fleet promote lets them go on, and they report
// who promoted.
func TestCanaryKilledThenPromote(t *testing.T) {
	t.Parallel()
	cf := newCanaryFleet(t)
	cf.daemons[cf.canary].kill()
	awaitHost(t, cf.c, fleetKeys, "canary1", "the canary gone", func(s *fleet.Status) bool { return s == nil })
	before := map[*fixture]int{}
	for _, f := range cf.followers {
		before[f] = strings.Count(checked(f), "a=")
	}
	var rev int64
	for i := 2; i <= 200; i++ {
		rev = etcdtest.PutEventually(t, cf.c, "/app/a", strconv.Itoa(i))
	}
	for _, name := range []string{"f1", "f2"} {
		barrierFor(t, cf.c)
		awaitHost(t, cf.c, fleetKeys, name, name+" held for want of a canary", func(s *fleet.Status) bool {
			return s != nil && s.Following != nil && s.Following.Reason == "no live host in group canary" && s.Following.Waiting >= rev
		})
	}
	for _, f := range cf.followers {
		if got, _ := os.ReadFile(f.target("app.conf")); string(got) != "a=1\n" {
			t.Fatalf("a follower without a canary applied %q", got)
		}
	}
	r := cf.followers[0].run("fleet", "promote")
	if r.code != 0 || !strings.Contains(r.stdout, "Promoted the followers under /reconfig to revision ") {
		t.Fatalf("fleet promote: %s", r)
	}
	for i, name := range []string{"f1", "f2"} {
		f := cf.followers[i]
		awaitContent(t, f.target("app.conf"), "a=200\n", 20*time.Second)
		s := awaitHost(t, cf.c, fleetKeys, name, name+" promoted", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
		if s.Following == nil || s.Following.Promoted == nil || s.Following.Promoted.User == "" {
			t.Errorf("follower %s does not report the promotion: %+v", name, s.Following)
		}
		if n := strings.Count(checked(f), "a=") - before[f]; n != 1 {
			t.Errorf("follower %s checked %d contents for 199 changes while held, want 1 (the gate's):\n%s", name, n, checked(f))
		}
	}
}

// barrierFor writes a barrier, as fleet status does, so that every daemon
// reports where it is.
func barrierFor(t *testing.T, c *etcd.Client) int64 {
	t.Helper()
	v, _ := json.Marshal(fleet.Barrier{By: "test", Since: time.Now(), Nonce: time.Now().Format(time.RFC3339Nano)})
	return etcdtest.PutEventually(t, c, fleetKeys.Barrier(), string(v))
}

// A follower whose gate revision was compacted holds and says so loudly —
// it never skips ahead — also when restarted; once the canary reports a
// newer revision, it applies that.
func TestCanaryGateCompacted(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	canary := appFixture(t, srv.ClientURL)
	canary.startWatch("--fleet", "--name", "canary1", "--group", "canary", "--fleet-ttl", fleetTTL)
	gate := awaitHost(t, c, fleetKeys, "canary1", "the canary's report", present).At
	// Keys the canary does not read move etcd on; the canary still
	// reports the gate, which is then compacted.
	etcdtest.PutEventually(t, c, "/other", "x")
	now := etcdtest.PutEventually(t, c, "/other", "y")
	if err := c.Compact(context.Background(), now); err != nil {
		t.Fatal(err)
	}

	follower := appFixture(t, srv.ClientURL)
	args := []string{"--fleet", "--name", "f1", "--fleet-ttl", fleetTTL, "--follow", "canary"}
	d := follower.startWatch(args...)
	want := fmt.Sprintf("cannot render revision %d: compacted", gate)
	first := awaitHost(t, c, fleetKeys, "f1", "the follower's compacted gate", func(s *fleet.Status) bool {
		return s != nil && s.Following != nil && s.Following.Reason == want
	})
	if first.Healthy || !strings.Contains(first.Problem, want) {
		t.Errorf("a follower that cannot read its gate reports healthy %v, problem %q", first.Healthy, first.Problem)
	}
	d.stop()
	follower.startWatch(args...)
	awaitHost(t, c, fleetKeys, "f1", "the restarted follower's compacted gate", func(s *fleet.Status) bool {
		return s != nil && s.PID != first.PID && s.Following != nil && s.Following.Reason == want
	})
	if _, err := os.Stat(follower.target("app.conf")); err == nil {
		t.Fatal("a follower that cannot read its gate wrote its target")
	}

	// fleet wait's barrier makes the canary report a newer revision.
	if r := canary.run("fleet", "wait", "--timeout", "20s", "--group", "canary"); r.code != 0 {
		t.Fatalf("fleet wait: %s", r)
	}
	awaitContent(t, follower.target("app.conf"), "a=1\n", 20*time.Second)
}

// With --follow-min 2, one canary down holds the followers.
func TestCanaryFollowMin(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	var canaries []*daemon
	for _, name := range []string{"c1", "c2"} {
		f := appFixture(t, srv.ClientURL)
		canaries = append(canaries, f.startWatch("--fleet", "--name", name, "--group", "canary", "--fleet-ttl", fleetTTL))
		awaitHost(t, c, fleetKeys, name, name+"'s report", present)
	}
	follower := appFixture(t, srv.ClientURL)
	follower.startWatch("--fleet", "--name", "f1", "--fleet-ttl", fleetTTL, "--follow", "canary", "--follow-min", "2")
	awaitContent(t, follower.target("app.conf"), "a=1\n", 20*time.Second)

	canaries[1].kill()
	awaitHost(t, c, fleetKeys, "c2", "c2 gone", func(s *fleet.Status) bool { return s == nil })
	rev := etcdtest.PutEventually(t, c, "/app/a", "2")
	awaitHost(t, c, fleetKeys, "c1", "c1 at the change", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
	barrierFor(t, c)
	s := awaitHost(t, c, fleetKeys, "f1", "the follower held by --follow-min", func(s *fleet.Status) bool {
		return s != nil && s.Following != nil && s.Following.Reason == "1 live host in group canary, fewer than --follow-min 2"
	})
	if s.At >= rev {
		t.Fatalf("the follower is at %d, past %d, with one canary of two", s.At, rev)
	}
	if got, _ := os.ReadFile(follower.target("app.conf")); string(got) != "a=1\n" {
		t.Fatalf("the follower applied %q with one canary of two", got)
	}
}

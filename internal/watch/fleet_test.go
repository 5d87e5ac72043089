package watch_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/watch"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

var fleetKeys = fleet.NewKeys("")

// member starts a --fleet daemon named name reading key recursively.
func member(t *testing.T, endpoint, name, key string) *harness {
	t.Helper()
	h := newHarness(t, map[string]string{
		"templates/kv.tmpl": kvTemplate,
		"conf.d/b":          `{"id": "b", "key": "` + key + `", "recursive": true, "source": "kv.tmpl", "target": "$OUT/b.conf"}`,
	})
	h.start([]string{endpoint}, func(o *watch.Options) {
		o.Fleet = &watch.FleetOptions{Keys: fleetKeys, Name: name, Group: "default", TTL: 2 * time.Second, Version: "test"}
	})
	return h
}

// awaitStatus follows the status key of name until ok accepts the status
// (nil: the key is gone), on a watch.
func awaitStatus(t *testing.T, c *etcd.Client, name string, what string, ok func(*fleet.Status) bool) *fleet.Status {
	t.Helper()
	return etcdtest.AwaitStatus(t, c, fleetKeys, name, what, 15*time.Second, ok)
}

func barrier(t *testing.T, c *etcd.Client) int64 {
	t.Helper()
	v, _ := json.Marshal(fleet.Barrier{By: "test", Since: time.Now(), Nonce: time.Now().Format(time.RFC3339Nano)})
	return put(t, c, fleetKeys.Barrier(), string(v))
}

// A daemon reports where it is; a host whose keys did not change still
// reaches the barrier's revision; a stopped daemon leaves at once.
func TestFleetReportsAndAnswersBarriers(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/a/x", "1")
	put(t, c, "/b/x", "1")
	ha := member(t, srv.ClientURL, "a", "/a")
	hb := member(t, srv.ClientURL, "b", "/b")
	ha.awaitContent("b.conf", "x=1\n", 10*time.Second)
	hb.awaitContent("b.conf", "x=1\n", 10*time.Second)

	rev := put(t, c, "/a/x", "2")
	s := awaitStatus(t, c, "a", "at the put", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
	if len(s.Bindings) != 1 || s.Bindings[0].Outcome != fleet.OK || s.Bindings[0].Revision != rev || !s.Healthy {
		t.Errorf("status of a after the put: %+v", s)
	}
	if got := ha.read("b.conf"); got != "x=2\n" {
		t.Errorf("a's target = %q", got)
	}

	// b read nothing that changed: the barrier moves it past the put.
	br := barrier(t, c)
	for _, name := range []string{"a", "b"} {
		s := awaitStatus(t, c, name, "at the barrier", func(s *fleet.Status) bool { return s != nil && s.At >= br })
		if s.Name != name || s.Group != "default" || s.PID != os.Getpid() || s.Reconfig != "test" {
			t.Errorf("status of %s: %+v", name, s)
		}
	}

	if err := ha.stop(); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "a", "gone after a clean stop", func(s *fleet.Status) bool { return s == nil })
}

// A held fleet keeps its snapshot current but applies nothing new; a
// release applies the latest at once.
func TestFleetHoldAndRelease(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/a/x", "1")
	h := member(t, srv.ClientURL, "a", "/a")
	h.awaitContent("b.conf", "x=1\n", 10*time.Second)

	hold, _ := json.Marshal(fleet.Hold{Reason: "incident 42", User: "ops", Host: "desk", Since: time.Now()})
	put(t, c, fleetKeys.Hold(), string(hold))
	awaitStatus(t, c, "a", "held", func(s *fleet.Status) bool { return s != nil && s.Held == "incident 42" })
	rev := put(t, c, "/a/x", "2")
	before := time.Now()
	br := barrier(t, c)
	// The host answers the barrier, still below the change it has not
	// applied.
	s := awaitStatus(t, c, "a", "an answer to the barrier", func(s *fleet.Status) bool { return s != nil && s.Reported.After(before) })
	if s.At >= rev {
		t.Errorf("held host reports at %d, at or past the change %d it did not apply (barrier %d)", s.At, rev, br)
	}
	if got := h.read("b.conf"); got != "x=1\n" {
		t.Fatalf("held target = %q, want it unchanged", got)
	}

	if _, err := c.Delete(context.Background(), fleetKeys.Hold(), false); err != nil {
		t.Fatal(err)
	}
	h.awaitContent("b.conf", "x=2\n", 10*time.Second)
	awaitStatus(t, c, "a", "released and at the change", func(s *fleet.Status) bool { return s != nil && s.Held == "" && s.At >= rev })
}

// Two daemons claiming one name both say so; neither silently merges.
func TestFleetDuplicateNames(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/a/x", "1")
	h1 := member(t, srv.ClientURL, "same", "/a")
	h1.awaitContent("b.conf", "x=1\n", 10*time.Second)
	h2 := member(t, srv.ClientURL, "same", "/a")
	h2.awaitContent("b.conf", "x=1\n", 10*time.Second)
	s := awaitStatus(t, c, "same", "the duplicate reported", func(s *fleet.Status) bool { return s != nil && len(s.Duplicates) == 1 })
	if s.Healthy || !strings.Contains(s.Problem, "duplicate name same") {
		t.Errorf("status with a duplicate: healthy %v, problem %q", s.Healthy, s.Problem)
	}
	for _, h := range []*harness{h1, h2} {
		awaitLog(t, h, "another daemon reports under this name", 10*time.Second)
	}
}

// awaitLog waits until the daemon's log holds text (a log has no event
// to wait on: it is looked at every few milliseconds).
func awaitLog(t *testing.T, h *harness, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(h.logs.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q", text)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A role that may not write the fleet keys is an error at start.
func TestFleetReadOnlyRole(t *testing.T) {
	srv := etcdtest.Start(t)
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "pw", ReadPrefix: "/"})
	h := newHarness(t, map[string]string{
		"templates/kv.tmpl": kvTemplate,
		"conf.d/b":          `{"id": "b", "key": "/a", "recursive": true, "source": "kv.tmpl", "target": "$OUT/b.conf"}`,
	})
	h.start([]string{srv.ClientURL}, func(o *watch.Options) {
		o.Fleet = &watch.FleetOptions{Keys: fleetKeys, Name: "a", Group: "default", TTL: 2 * time.Second}
		o.Connect = func(ctx context.Context) (*etcd.Client, error) {
			return etcd.Connect(ctx, etcd.Config{Endpoints: []string{srv.ClientURL}, Username: "reader", Password: "pw", DialTimeout: time.Second, CommandTimeout: 2 * time.Second})
		}
	})
	var err error
	select {
	case err = <-h.done:
		h.cancel = nil
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not stop")
	}
	if err == nil || !strings.Contains(err.Error(), "cannot write the fleet keys under /reconfig/") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Run = %v, want a permission error naming the fleet keys", err)
	}
	if _, statErr := os.Stat(filepath.Join(h.out, "b.conf")); statErr == nil {
		t.Error("a target was written by a daemon that could not join its fleet")
	}
}

// Bindings that read the fleet's own keys are refused at start.
func TestFleetKeysReadByABinding(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, map[string]string{
		"templates/kv.tmpl": kvTemplate,
		"conf.d/b":          `{"id": "everything", "key": "/", "recursive": true, "source": "kv.tmpl", "target": "$OUT/b.conf"}`,
	})
	h.start([]string{srv.ClientURL}, func(o *watch.Options) {
		o.Fleet = &watch.FleetOptions{Keys: fleetKeys, Name: "a", Group: "default"}
	})
	err := <-h.done
	h.cancel = nil
	if err == nil || !strings.Contains(err.Error(), "binding everything reads /, which holds the fleet's own keys (/reconfig/…)") {
		t.Fatalf("Run = %v", err)
	}
}

// A lease lost while the daemon runs (here revoked by hand, as etcd does
// when it could not renew it in time) is replaced on the same watch: the
// status comes back, and no new snapshot is taken for it.
func TestFleetLeaseLostKeepsTheWatch(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/a/x", "1")
	h := member(t, srv.ClientURL, "a", "/a")
	h.awaitContent("b.conf", "x=1\n", 10*time.Second)
	awaitStatus(t, c, "a", "the first report", func(s *fleet.Status) bool { return s != nil })
	entries, _, err := c.List(context.Background(), fleetKeys.Host("a"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("status key: %v %v", entries, err)
	}
	if err := c.RevokeLease(context.Background(), entries[0].Lease); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "a", "the status back on a new lease", func(s *fleet.Status) bool { return s != nil })
	awaitLog(t, h, "the fleet lease was lost; the status is written again on a new one", 10*time.Second)
	if n := strings.Count(h.logs.String(), "snapshot taken"); n != 1 {
		t.Errorf("%d snapshots taken, want 1: a lost lease must not cost a new snapshot\n%s", n, h.logs.String())
	}
	rev := put(t, c, "/a/x", "2")
	h.awaitContent("b.conf", "x=2\n", 10*time.Second)
	awaitStatus(t, c, "a", "at the change after the new lease", func(s *fleet.Status) bool { return s != nil && s.At >= rev })
}

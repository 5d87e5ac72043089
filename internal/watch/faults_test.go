package watch_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/watch"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

var oneBinding = map[string]string{
	"templates/kv.tmpl": kvTemplate,
	"conf.d/app":        `{"id": "app", "key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf"}`,
}

// etcd killed -9 and restarted (a new process on the same data dir): the
// daemon converges to changes made while it could not see them, and with
// a compaction past its revision it takes a new snapshot.
func TestEtcdRestartWithChangesAndCompaction(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("compact=%v", compact), func(t *testing.T) {
			peer := "http://" + etcdtest.FreeAddr()
			clientURL := "http://" + etcdtest.FreeAddr()
			dir := t.TempDir() + "/etcd"
			p := etcdtest.StartProcess(t, embedded.Options{Dir: dir, ClientURL: clientURL, PeerURL: peer})
			c := connect(t, clientURL)
			put(t, c, "/app/a", "1")
			c.Close()

			h := newHarness(t, oneBinding)
			h.start([]string{clientURL}, nil)
			h.awaitContent("app.conf", "a=1\n", 10*time.Second)

			// Down, then up where the daemon cannot see it: changes there.
			p.Kill()
			hidden := "http://" + etcdtest.FreeAddr()
			q := etcdtest.StartProcess(t, embedded.Options{Dir: dir, ClientURL: hidden, PeerURL: peer})
			hc := connect(t, hidden)
			put(t, hc, "/app/a", "2")
			var last int64
			for i := range 20 {
				last = put(t, hc, fmt.Sprintf("/other/%d", i), "x")
			}
			if compact {
				if err := hc.Compact(context.Background(), last); err != nil {
					t.Fatal(err)
				}
			}
			hc.Close()
			q.Kill()

			// Back where the daemon looks.
			etcdtest.StartProcess(t, embedded.Options{Dir: dir, ClientURL: clientURL, PeerURL: peer})
			h.awaitContent("app.conf", "a=2\n", 30*time.Second)
			if compact && !strings.Contains(h.logs.String(), "revision compacted") {
				t.Fatalf("no resync after the compaction was logged:\n%s", h.logs.String())
			}
			c2 := connect(t, clientURL)
			put(t, c2, "/app/b", "3")
			h.awaitContent("app.conf", "a=2\nb=3\n", 10*time.Second)
		})
	}
}

// etcd stopped (SIGSTOP) for longer than the stream's liveness check, then
// resumed: the daemon converges without a restart.
func TestEtcdFrozenThenResumed(t *testing.T) {
	p := etcdtest.StartProcess(t, embedded.Options{})
	c := connect(t, p.ClientURL)
	put(t, c, "/app/a", "1")
	h := newHarness(t, oneBinding)
	h.start([]string{p.ClientURL}, func(o *watch.Options) {
		o.ProgressInterval, o.ProgressTimeout = 200*time.Millisecond, 200*time.Millisecond
	})
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)
	p.Signal(syscall.SIGSTOP)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(h.logs.String(), "lost etcd; reconnecting") {
		if time.Now().After(deadline) {
			p.Signal(syscall.SIGCONT)
			t.Fatalf("the frozen stream was not noticed:\n%s", h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Signal(syscall.SIGCONT)
	put(t, c, "/app/a", "2")
	h.awaitContent("app.conf", "a=2\n", 30*time.Second)
}

// Three members; the leader closed, then a follower: the daemon keeps
// converging on the quorum that is left.
func TestLeaderLoss(t *testing.T) {
	servers := etcdtest.StartCluster(t, 3)
	eps := []string{servers[0].ClientURL, servers[1].ClientURL, servers[2].ClientURL}
	cli, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	put(t, cli, "/app/a", "1")
	h := newHarness(t, oneBinding)
	h.start(eps, nil)
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)

	leader := etcdtest.Leader(servers)
	if leader < 0 {
		t.Fatal("no leader")
	}
	servers[leader].Close()
	etcdtest.PutEventually(t, cli, "/app/a", "2")
	h.awaitContent("app.conf", "a=2\n", 30*time.Second)
}

// An idle cluster is not a dead stream: the daemon's progress requests are
// answered and it never reconnects while nothing changes.
func TestIdleStreamStaysConnected(t *testing.T) {
	srv := etcdtest.Start(t)
	c := connect(t, srv.ClientURL)
	put(t, c, "/app/a", "1")
	h := newHarness(t, oneBinding)
	h.start([]string{srv.ClientURL}, func(o *watch.Options) {
		o.ProgressInterval, o.ProgressTimeout = 50*time.Millisecond, 200*time.Millisecond
	})
	h.awaitContent("app.conf", "a=1\n", 10*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(h.logs.String(), `msg="watch progress"`) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("no progress answers on an idle cluster:\n%s", h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(h.logs.String(), "lost etcd") {
		t.Fatalf("the daemon reconnected on an idle cluster:\n%s", h.logs.String())
	}
}

// Another etcd comes up on the endpoint the daemon follows, within the
// time the client reconnects by itself: a new cluster (another cluster
// id), or the same cluster started over (an empty data dir, a restore
// from an older backup), whose history restarts below the daemon's
// revision. The daemon must not go on from the old snapshot — ignoring
// the new data as "already seen", then mixing it into the old cluster's
// data once its revisions are higher — but read the new etcd afresh:
// refuse a state recorded for another cluster (health says why), and
// converge to a cluster whose history started over. etcd 3.4 answers
// progress requests of a watch from a future revision, so there nothing
// but the revision tells the daemon.
func TestAnotherEtcdOnTheSameEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sameID bool
		etcd34 bool
	}{
		{"new cluster", false, false},
		{"same cluster started over", true, false},
		{"same cluster started over, etcd 3.4", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clientURL, peerURL := "http://"+etcdtest.FreeAddr(), "http://"+etcdtest.FreeAddr()
			start := func(peer string) (kill func()) {
				if tc.etcd34 {
					return etcdtest.StartBinaryAt(t, etcdtest.Binary(t), clientURL, peer, filepath.Join(t.TempDir(), "etcd"))
				}
				return etcdtest.StartProcess(t, embedded.Options{ClientURL: clientURL, PeerURL: peer}).Kill
			}
			kill := start(peerURL)
			c := connect(t, clientURL)
			put(t, c, "/app/a", "1")
			for i := range 10 {
				put(t, c, "/app/old", fmt.Sprint(i))
			}
			c.Close()

			h := newHarness(t, oneBinding)
			m := watch.NewMetrics()
			h.start([]string{clientURL}, func(o *watch.Options) {
				o.Metrics = m
				o.ProgressInterval, o.ProgressTimeout = 200*time.Millisecond, time.Second
			})
			h.awaitContent("app.conf", "a=1\nold=9\n", 10*time.Second)
			awaitHealth(t, m, true, "^ok$", 10*time.Second)

			kill()
			if tc.sameID {
				start(peerURL)
			} else {
				start("http://" + etcdtest.FreeAddr())
			}
			c = connect(t, clientURL)
			if tc.sameID {
				// A history that started over, still below the old
				// revision (12): what the old snapshot takes as seen.
				for i := range 3 {
					put(t, c, "/app/a", fmt.Sprintf("b%d", i))
				}
				h.awaitContent("app.conf", "a=b2\n", 30*time.Second)
				return
			}
			// Past the old cluster's revision: the old snapshot would take
			// these events as news.
			for i := range 20 {
				put(t, c, "/app/a", fmt.Sprintf("b%d", i))
			}
			reason := awaitHealth(t, m, false, "written for etcd cluster", 30*time.Second)
			t.Logf("health: %s", reason)
			if got := h.read("app.conf"); got != "a=1\nold=9\n" {
				t.Fatalf("app.conf = %q: data of another cluster was written under a state recorded for the old one", got)
			}
		})
	}
}

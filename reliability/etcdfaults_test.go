package reliability

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// client connects to etcd for the test's own reads and writes.
func client(t *testing.T, endpoints ...string) *etcd.Client {
	t.Helper()
	c, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, CommandTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// quiet records a target and the state file while the daemon has no data,
// to prove afterwards that neither was touched.
type quiet struct {
	t                  *testing.T
	f                  *fixture
	target, statePath  string
	targetID, stateID  fileID
	content            string
	outMark, stateMark int
	outEv, cfgEv       *dirEvents
}

func (f *fixture) beginQuiet(name string, outEv, cfgEv *dirEvents) *quiet {
	f.t.Helper()
	f.awaitRecorded(name)
	q := &quiet{t: f.t, f: f, target: f.target(name), statePath: f.statePath(), outEv: outEv, cfgEv: cfgEv}
	q.targetID, q.stateID = identify(f.t, q.target), identify(f.t, q.statePath)
	q.content = readFile(f.t, q.target)
	q.outMark, q.stateMark = outEv.settle(f.t, f.out), cfgEv.settle(f.t, f.dir)
	return q
}

// check fails the test if anything was written to the targets' directory
// or the state file since beginQuiet.
func (q *quiet) check(what string) {
	q.t.Helper()
	if evs := q.outEv.since(q.outMark); len(evs) > 0 {
		q.t.Fatalf("%s: the daemon wrote in the targets' directory while it had no data: %+v", what, evs)
	}
	if evs := q.cfgEv.writesTo(q.stateMark, "state.json"); len(evs) > 0 {
		q.t.Fatalf("%s: the daemon wrote the state while it had no data: %+v", what, evs)
	}
	if identify(q.t, q.target) != q.targetID || readFile(q.t, q.target) != q.content || identify(q.t, q.statePath) != q.stateID {
		q.t.Fatalf("%s: the target or the state changed while the daemon had no data", what)
	}
}

const kvTemplate = "{{range $k, $v := .Data}}{{base $k}}={{$v}}\n{{end}}"

func appFixture(t *testing.T, endpoints string) *fixture {
	f := newFixture(t, endpoints)
	f.write("templates/kv.tmpl", kvTemplate)
	f.binding("app", map[string]any{"key": "/app", "recursive": true, "source": "kv.tmpl", "target": "$OUT/app.conf"})
	return f
}

// A three-member cluster (embedded members in this process) under
// `reconfig watch` given all three endpoints: the leader is closed (the
// daemon converges on the two left), then a follower (no quorum: the
// daemon retries and writes nothing), then the follower comes back
// (quorum again: it converges without a restart), then the old leader.
func TestClusterLeaderThenFollowerLost(t *testing.T) {
	t.Parallel()
	servers := etcdtest.StartCluster(t, 3)
	eps := make([]string, len(servers))
	for i, s := range servers {
		eps[i] = s.ClientURL
	}
	c := client(t, eps...)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	f := appFixture(t, strings.Join(eps, ","))
	f.extraEnv = append(f.extraEnv, "RECONFIG_DIAL_TIMEOUT=1s")
	outEv, cfgEv := watchDir(t, f.out), watchDir(t, f.dir)
	d := f.startWatch("--resync", "300ms", "--progress-interval", "300ms")
	target := f.target("app.conf")
	awaitContent(t, target, "a=1\n", 20*time.Second)

	leader := etcdtest.Leader(servers)
	if leader < 0 {
		t.Fatal("no leader")
	}
	leaderOpts := restartOptions(servers, leader)
	servers[leader].Close()
	etcdtest.PutEventually(t, c, "/app/a", "2")
	awaitContent(t, target, "a=2\n", 30*time.Second)

	follower := (leader + 1) % 3
	followerOpts := restartOptions(servers, follower)
	servers[follower].Close()
	// One member of three: no quorum, no reads, no writes.
	q := f.beginQuiet("app.conf", outEv, cfgEv)
	lost := strings.Count(d.log.String(), "lost etcd") + strings.Count(d.log.String(), "watch interrupted")
	eventually(t, 60*time.Second, "the daemon to notice the lost quorum and retry twice", func() bool {
		d.alive()
		l := d.log.String()
		return strings.Count(l, "lost etcd")+strings.Count(l, "watch interrupted") >= lost+2
	})
	q.check("quorum lost")

	restart(t, servers, follower, followerOpts)
	etcdtest.PutEventually(t, c, "/app/b", "3")
	awaitContent(t, target, "a=2\nb=3\n", 60*time.Second)
	restart(t, servers, leader, leaderOpts)
	etcdtest.PutEventually(t, c, "/app/c", "4")
	awaitContent(t, target, "a=2\nb=3\nc=4\n", 30*time.Second)
	d.alive()
}

// Each member in turn — so, at some point, the one carrying the daemon's
// watch stream — is closed while the other two go on taking writes: the
// daemon converges each time, without a restart.
func TestClusterMemberClosedWhileOthersGoOn(t *testing.T) {
	t.Parallel()
	servers := etcdtest.StartCluster(t, 3)
	eps := make([]string, len(servers))
	for i, s := range servers {
		eps[i] = s.ClientURL
	}
	c := client(t, eps...)
	etcdtest.PutEventually(t, c, "/app/n", "0")
	f := appFixture(t, strings.Join(eps, ","))
	d := f.startWatch("--progress-interval", "300ms")
	target := f.target("app.conf")
	awaitContent(t, target, "n=0\n", 20*time.Second)
	for i := range servers {
		opts := restartOptions(servers, i)
		servers[i].Close()
		for j := 1; j <= 3; j++ {
			v := fmt.Sprintf("%d.%d", i, j)
			etcdtest.PutEventually(t, c, "/app/n", v)
			awaitContent(t, target, "n="+v+"\n", 30*time.Second)
		}
		restart(t, servers, i, opts)
	}
	// Every member was closed in turn, so the one carrying the daemon's
	// stream was too. Whether the daemon logs it depends on who noticed:
	// the etcd client fails over between endpoints and resumes the watch by
	// itself, and then the daemon sees nothing but the next events.
	d.alive()
}

// restartOptions are what member i needs to start again on its data dir.
func restartOptions(servers []*embedded.Server, i int) embedded.Options {
	var peers []string
	for j, s := range servers {
		peers = append(peers, fmt.Sprintf("m%d=%s", j, s.PeerURL))
	}
	s := servers[i]
	return embedded.Options{Name: fmt.Sprintf("m%d", i), Dir: s.Dir, ClientURL: s.ClientURL, PeerURL: s.PeerURL,
		InitialCluster: strings.Join(peers, ","), Fast: true}
}

func restart(t *testing.T, servers []*embedded.Server, i int, o embedded.Options) {
	t.Helper()
	s, err := embedded.Start(o)
	if err != nil {
		t.Fatalf("restart member %d: %v", i, err)
	}
	servers[i] = s
	t.Cleanup(s.Close)
}

// etcd as a separate process, faulted under a running `reconfig watch`:
// killed -9 and restarted; killed, changed and compacted where the daemon
// cannot see it, then restarted; frozen with SIGSTOP past the stream's
// liveness check, then resumed. While etcd is gone the daemon writes
// nothing; afterwards it converges to the final data without a restart.
func TestEtcdProcessFaults(t *testing.T) {
	t.Parallel()
	for _, fault := range []string{"kill", "kill+compact", "sigstop"} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			dir, peer, clientURL := t.TempDir()+"/etcd", "http://"+etcdtest.FreeAddr(), "http://"+etcdtest.FreeAddr()
			p := etcdtest.StartProcess(t, embedded.Options{Dir: dir, ClientURL: clientURL, PeerURL: peer})
			c := client(t, clientURL)
			etcdtest.PutEventually(t, c, "/app/a", "1")
			f := appFixture(t, clientURL)
			f.extraEnv = append(f.extraEnv, "RECONFIG_DIAL_TIMEOUT=1s")
			outEv, cfgEv := watchDir(t, f.out), watchDir(t, f.dir)
			d := f.startWatch("--progress-interval", "200ms", "--resync", "500ms")
			target := f.target("app.conf")
			awaitContent(t, target, "a=1\n", 20*time.Second)

			q := f.beginQuiet("app.conf", outEv, cfgEv)
			before := strings.Count(d.log.String(), "lost etcd") + strings.Count(d.log.String(), "etcd unreachable")
			awaitRetries := func() {
				eventually(t, 60*time.Second, "the daemon to notice the fault and retry twice", func() bool {
					d.alive()
					l := d.log.String()
					return strings.Count(l, "lost etcd")+strings.Count(l, "etcd unreachable") >= before+2
				})
			}
			switch fault {
			case "kill":
				p.Kill()
				awaitRetries()
				q.check("etcd killed")
				p.Start()
				etcdtest.PutEventually(t, c, "/app/a", "2")
			case "kill+compact":
				p.Kill()
				awaitRetries()
				q.check("etcd killed")
				// Changes and a compaction past the daemon's revision,
				// on a URL it does not know.
				hidden := "http://" + etcdtest.FreeAddr()
				h := etcdtest.StartProcess(t, embedded.Options{Dir: dir, ClientURL: hidden, PeerURL: peer})
				hc := client(t, hidden)
				etcdtest.PutEventually(t, hc, "/app/a", "2")
				var last int64
				for i := range 20 {
					last = etcdtest.PutEventually(t, hc, fmt.Sprintf("/other/%d", i), "x")
				}
				if err := hc.Compact(context.Background(), last); err != nil {
					t.Fatal(err)
				}
				h.Kill()
				q.check("etcd changed where the daemon cannot see it")
				p.Start()
			case "sigstop":
				p.Signal(syscall.SIGSTOP)
				awaitRetries()
				q.check("etcd frozen")
				p.Signal(syscall.SIGCONT)
				etcdtest.PutEventually(t, c, "/app/a", "2")
			}
			awaitContent(t, target, "a=2\n", 60*time.Second)
			etcdtest.PutEventually(t, c, "/app/b", "3")
			awaitContent(t, target, "a=2\nb=3\n", 30*time.Second)
			if fault == "kill+compact" && !strings.Contains(d.log.String(), "compacted") {
				t.Logf("note: the daemon's reconnect took a fresh snapshot, so it never watched from the compacted revision")
			}
			d.alive()
		})
	}
}

package reliability

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// holder is `reconfig kv set KEY VALUE --ttl D --keepalive` running as a
// separate process: a node announcing itself.
type holder struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *testfixtures.SyncBuffer
	done chan struct{}
}

const announceKey, announceValue = "/services/web/node-1", "10.0.0.1:8080"

// startHold starts the holder of announceKey with a lease of ttl; the
// test's end kills it if it still runs.
func startHold(t *testing.T, endpoints, ttl string) *holder {
	t.Helper()
	f := newFixture(t, endpoints)
	cmd := f.command("kv", "set", announceKey, announceValue, "--ttl", ttl, "--keepalive")
	h := &holder{t: t, cmd: cmd, log: &testfixtures.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = h.log, h.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			cmd.Process.Kill()
			<-h.done
		}
		if t.Failed() {
			t.Logf("kv set --keepalive log:\n%s", h.log.String())
		}
	})
	return h
}

// wait waits for the holder to exit and returns its exit status.
func (h *holder) wait(timeout time.Duration) int {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(timeout):
		h.t.Fatalf("kv set --keepalive did not exit within %s", timeout)
	}
	return h.cmd.ProcessState.ExitCode()
}

// awaitLog waits until the holder's log holds substr n times.
func (h *holder) awaitLog(substr string, n int, timeout time.Duration) {
	h.t.Helper()
	eventually(h.t, timeout, "kv set --keepalive to log "+substr, func() bool {
		select {
		case <-h.done:
			h.t.Fatalf("kv set --keepalive exited (status %d); it must keep running", h.cmd.ProcessState.ExitCode())
		default:
		}
		return strings.Count(h.log.String(), substr) >= n
	})
}

// entry reads announceKey: its lease, and whether it exists. It retries
// for up to 30 s while the test's client reconnects to a restarted etcd.
func entry(t *testing.T, c *etcd.Client) (etcd.Entry, bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var entries []etcd.Entry
	for {
		var err error
		entries, _, err = c.List(context.Background(), announceKey)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s: %v", announceKey, err)
		}
	}
	for _, e := range entries {
		if e.Key == announceKey {
			return e, true
		}
	}
	return etcd.Entry{}, false
}

// awaitAnnounced waits until announceKey holds the node's address, and
// returns its entry.
func awaitAnnounced(t *testing.T, c *etcd.Client, what string, timeout time.Duration) etcd.Entry {
	t.Helper()
	etcdtest.AwaitKey(t, c, announceKey, what, timeout, func(v string, exists bool) bool { return exists && v == announceValue })
	e, ok := entry(t, c)
	if !ok {
		t.Fatalf("%s vanished again at once", announceKey)
	}
	if e.Lease == 0 {
		t.Fatalf("%s is not on a lease", announceKey)
	}
	return e
}

// A node stopped cleanly (SIGTERM from systemd, SIGINT from a terminal)
// leaves at once: by the time the process has exited, the key is gone —
// not when its 60 s lease would have expired.
func TestKVHoldStoppedBySignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			srv := etcdtest.Start(t)
			c := client(t, srv.ClientURL)
			h := startHold(t, srv.ClientURL, "60s")
			awaitAnnounced(t, c, "the node to announce itself", 30*time.Second)
			h.awaitLog("holding the key until stopped", 1, 30*time.Second)
			h.cmd.Process.Signal(sig)
			if code := h.wait(30 * time.Second); code != 0 {
				t.Fatalf("kv set --keepalive exited %d on %v, want 0:\n%s", code, sig, h.log.String())
			}
			if e, ok := entry(t, c); ok {
				t.Fatalf("%s is still there after a clean stop (lease %x): it must be deleted before the process exits", announceKey, e.Lease)
			}
			if !strings.Contains(h.log.String(), "revoked the lease: the key is deleted") {
				t.Errorf("the log does not say the key was deleted:\n%s", h.log.String())
			}
		})
	}
}

// A running node renews its lease: its key outlives the TTL many times
// over. Killed -9, it cannot revoke the lease: its key goes when the lease
// expires, and goes for sure.
func TestKVHoldKilled(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	h := startHold(t, srv.ClientURL, "2s")
	first := awaitAnnounced(t, c, "the node to announce itself", 30*time.Second)
	since := time.Now()
	eventually(t, 60*time.Second, "the key to outlive three TTLs", func() bool {
		if e, ok := entry(t, c); !ok || e.Lease != first.Lease {
			t.Fatalf("the key of a running node expired (exists: %v, lease %x, was %x)", ok, e.Lease, first.Lease)
		}
		return time.Since(since) > 6*time.Second
	})
	if strings.Contains(h.log.String(), "lost the lease") {
		t.Fatalf("a running node lost its lease with etcd up:\n%s", h.log.String())
	}
	h.cmd.Process.Kill()
	h.wait(30 * time.Second)
	etcdtest.AwaitKey(t, c, announceKey, "the key of a killed node to expire with its lease", 60*time.Second,
		func(_ string, exists bool) bool { return !exists })
}

// The lease revoked behind the node's back (etcdctl lease revoke, or a
// lease etcd expired) deletes the key; the node notices and sets it again
// on a new lease.
func TestKVHoldLeaseRevoked(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	h := startHold(t, srv.ClientURL, "3s")
	first := awaitAnnounced(t, c, "the node to announce itself", 30*time.Second)
	if err := c.RevokeLease(context.Background(), first.Lease); err != nil {
		t.Fatal(err)
	}
	h.awaitLog("lost the lease", 1, 30*time.Second)
	h.awaitLog("re-created the key", 1, 30*time.Second)
	again := awaitAnnounced(t, c, "the node to announce itself again", 30*time.Second)
	if again.Lease == first.Lease {
		t.Fatalf("the key is back on the revoked lease %x", first.Lease)
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	if code := h.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if _, ok := entry(t, c); ok {
		t.Fatalf("%s is still there after a clean stop", announceKey)
	}
}

// etcd, a separate process, killed -9 under a running node for longer than
// the node's TTL, then restarted — on its data, or on an empty data dir
// (a member rebuilt): the node logs the lost lease, retries while etcd is
// away, and sets its key again, on a new lease, once etcd is back.
func TestKVHoldEtcdRestarted(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"kept", "lost"} {
		t.Run("data "+data, func(t *testing.T) {
			t.Parallel()
			dir, peer, clientURL := filepath.Join(t.TempDir(), "etcd"), "http://"+etcdtest.FreeAddr(), "http://"+etcdtest.FreeAddr()
			p := etcdtest.StartProcess(t, embedded.Options{Dir: dir, ClientURL: clientURL, PeerURL: peer})
			c := client(t, clientURL)
			h := startHold(t, clientURL, "2s")
			first := awaitAnnounced(t, c, "the node to announce itself", 30*time.Second)
			// Killed under a node that holds its key, not while the first
			// set is still answering: a set etcd applied but could not
			// confirm is an error of that command, not a lost lease.
			h.awaitLog("holding the key until stopped", 1, 30*time.Second)

			p.Kill()
			h.awaitLog("lost the lease", 1, 60*time.Second)
			h.awaitLog("cannot re-create the key; retrying", 1, 60*time.Second)
			switch data {
			case "kept":
				p.Start()
			case "lost":
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				etcdtest.StartProcess(t, embedded.Options{Dir: dir, ClientURL: clientURL, PeerURL: peer})
			}
			h.awaitLog("re-created the key", 1, 60*time.Second)
			var again etcd.Entry
			eventually(t, 60*time.Second, "the key back on a new lease", func() bool {
				e, ok := entry(t, c)
				again = e
				return ok && e.Value == announceValue && e.Lease != 0 && e.Lease != first.Lease
			})
			h.cmd.Process.Signal(syscall.SIGTERM)
			if code := h.wait(30 * time.Second); code != 0 {
				t.Fatalf("exit %d, want 0", code)
			}
			if _, ok := entry(t, c); ok {
				t.Fatalf("%s (lease %x) is still there after a clean stop", announceKey, again.Lease)
			}
		})
	}
}

// Stopped while etcd is away, the node cannot delete its key: it says so,
// and that the key goes with its lease, and exits 1.
func TestKVHoldStoppedWithoutEtcd(t *testing.T) {
	t.Parallel()
	p := etcdtest.StartProcess(t, embedded.Options{})
	c := client(t, p.ClientURL)
	h := startHold(t, p.ClientURL, "30s")
	awaitAnnounced(t, c, "the node to announce itself", 30*time.Second)
	h.awaitLog("holding the key until stopped", 1, 30*time.Second)
	// Frozen, not killed: a killed member's port may be taken at once by
	// another test's etcd, which would answer the revocation.
	p.Signal(syscall.SIGSTOP)
	h.cmd.Process.Signal(syscall.SIGTERM)
	if code := h.wait(60 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, h.log.String())
	}
	log := h.log.String()
	for _, want := range []string{"reconfig: error: delete " + announceKey + ": revoke lease:", "hint: " + announceKey + " disappears when its lease expires, within 30s"} {
		if !strings.Contains(log, want) {
			t.Errorf("the output lacks %q:\n%s", want, log)
		}
	}
}

// contrib/reconfig-announce@.service runs a command line reconfig
// understands: its ExecStart, with the unit's specifiers and variables
// filled in, announces the backend and SIGTERM withdraws it. Where
// systemd-analyze is installed, it accepts the unit.
func TestAnnounceUnit(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile("../contrib/reconfig-announce@.service")
	if err != nil {
		t.Fatal(err)
	}
	var execStart string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = v
		}
	}
	args := strings.Fields(execStart)
	if len(args) < 2 || args[0] != "/usr/local/bin/reconfig" {
		t.Fatalf("ExecStart %q does not run /usr/local/bin/reconfig", execStart)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("%i", "web", "%H", host, "${ANNOUNCE_VALUE}", announceValue, "${ANNOUNCE_TTL}", "10s")
	for i := range args {
		args[i] = fill.Replace(args[i])
	}
	key := "/services/web/" + host

	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	f := newFixture(t, srv.ClientURL)
	cmd := f.command(args[1:]...)
	log := &testfixtures.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	etcdtest.AwaitKey(t, c, key, "the unit's command to announce the backend", 30*time.Second,
		func(v string, exists bool) bool { return exists && v == announceValue })
	eventually(t, 30*time.Second, "the unit's command to log, in JSON for the journal", func() bool {
		return strings.Contains(log.String(), `"msg":"holding the key until stopped`)
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the unit's command did not stop within 30s of SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d on SIGTERM, want 0:\n%s", code, log.String())
	}
	entries, _, err := c.List(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("%s is still there after SIGTERM", key)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("note: no systemd-analyze on this machine; the unit's syntax was not verified by systemd")
		return
	}
	// The unit as installed, running this binary, beside a stand-in for
	// the backend it binds to.
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	installed := strings.ReplaceAll(string(unit), "/usr/local/bin/reconfig", exe)
	if err := os.WriteFile(filepath.Join(dir, "reconfig-announce@.service"), []byte(installed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web.service"), []byte("[Unit]\nDescription=web\n[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command(analyze, "verify", filepath.Join(dir, "reconfig-announce@web.service"))
	verify.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
	if out, err := verify.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

package etcdtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reconfig/reconfig/internal/embedded"
)

// childEnv carries the options of an etcd member run as a separate process
// by the test binary itself.
const childEnv = "RECONFIG_ETCDTEST_SERVE"

// MaybeServe turns the test binary into an etcd member when it was started
// by StartProcess. Call it first in TestMain.
func MaybeServe() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	var c childSpec
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest child:", err)
		os.Exit(2)
	}
	o := embedded.Options{Dir: c.Dir, Name: c.Name, ClientURL: c.ClientURL, PeerURL: c.PeerURL, InitialCluster: c.InitialCluster, Fast: true}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	srv, err := embedded.Start(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest child:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	<-sigs
	srv.Close()
	os.Exit(0)
}

// childSpec is what a child member needs (embedded.Options has functions).
type childSpec struct {
	Dir, Name, ClientURL, PeerURL, InitialCluster string
}

// Process is an etcd member in a separate process: it can be killed -9,
// stopped with SIGSTOP, and restarted on the same data dir.
type Process struct {
	t    TB
	cmd  *exec.Cmd
	opts embedded.Options
	// ClientURL is where it serves clients.
	ClientURL string
}

// StartProcess starts a single-member etcd in a child process (the test
// binary, through MaybeServe) and kills it when the test ends. opts.Dir,
// ClientURL and PeerURL default to a temporary dir and free ports.
func StartProcess(t TB, opts embedded.Options) *Process {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "etcd")
	}
	if opts.ClientURL == "" {
		opts.ClientURL = "http://" + FreeAddr()
	}
	if opts.PeerURL == "" {
		opts.PeerURL = "http://" + FreeAddr()
	}
	p := &Process{t: t, opts: opts, ClientURL: opts.ClientURL}
	p.Start()
	t.Cleanup(p.Kill)
	return p
}

// Start (re)starts the member on its data dir.
func (p *Process) Start() {
	p.t.Helper()
	o := p.opts
	spec, err := json.Marshal(childSpec{Dir: o.Dir, Name: o.Name, ClientURL: o.ClientURL, PeerURL: o.PeerURL, InitialCluster: o.InitialCluster})
	if err != nil {
		p.t.Fatalf("etcd process: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatalf("etcd process: %v", err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("etcd process: %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			p.t.Fatalf("etcd process did not start (said %q)", line)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		p.t.Fatalf("etcd process not ready after 60s")
	}
	p.cmd = cmd
}

// Kill ends the member with SIGKILL.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}

// Signal sends sig (SIGSTOP, SIGCONT) to the member.
func (p *Process) Signal(sig syscall.Signal) {
	if p.cmd != nil {
		p.cmd.Process.Signal(sig)
	}
}

// Binary finds Debian's etcd (3.4) for compatibility runs. Without it, the
// test says so and skips — unless RECONFIG_REQUIRE_ETCD_BINARY is set (as
// in CI), where a missing binary fails the test.
func Binary(t interface {
	TB
	Skipf(string, ...any)
}) string {
	path, err := exec.LookPath("etcd")
	if err == nil {
		return path
	}
	for _, p := range []string{"/usr/bin/etcd", "/usr/sbin/etcd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("RECONFIG_REQUIRE_ETCD_BINARY") != "" {
		t.Fatalf("the etcd binary is required (RECONFIG_REQUIRE_ETCD_BINARY is set) but not installed: apt-get install etcd-server")
	}
	t.Skipf("SKIPPED: no etcd binary for the etcd 3.4 compatibility test; install Debian's etcd-server (apt-get install etcd-server) to run it")
	return ""
}

// StartBinary runs the etcd binary at path as a single member on free
// loopback ports and stops it when the test ends. It returns the client URL.
// flags are added to the command line (like "--auth-token-ttl", "2").
func StartBinary(t TB, path string, flags ...string) string {
	t.Helper()
	client, peer := "http://"+FreeAddr(), "http://"+FreeAddr()
	StartBinaryAt(t, path, client, peer, filepath.Join(t.TempDir(), "etcd"), flags...)
	return client
}

// StartBinaryAt runs the etcd binary at path as a single member on the
// given URLs and data dir, and returns once it is healthy. kill ends it
// with SIGKILL (as does the end of the test). The same peer URL gives the
// same cluster id: a member started on a new data dir there is the same
// cluster started over.
func StartBinaryAt(t TB, path, clientURL, peerURL, dir string, flags ...string) (kill func()) {
	t.Helper()
	cmd := exec.Command(path,
		"--name", "compat", "--data-dir", dir,
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "compat="+peerURL, "--initial-cluster-state", "new",
		"--heartbeat-interval", "10", "--election-timeout", "100",
		"--log-level", "error", "--logger", "zap")
	cmd.Args = append(cmd.Args, flags...)
	cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+runtimeArch())
	logFile, err := os.Create(filepath.Join(t.TempDir(), "etcd.log"))
	if err != nil {
		t.Fatalf("etcd log: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logFile.Close()
		})
	}
	t.Cleanup(func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			logFile.Close()
		})
	})
	// Ready when it answers its health endpoint.
	deadline := time.Now().Add(30 * time.Second)
	for !healthy(clientURL) {
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(logFile.Name())
			t.Fatalf("etcd binary not healthy after 30s:\n%s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return kill
}

package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// asReconfig makes the test binary run reconfig instead of the tests.
const asReconfig = "RECONFIG_RELIABILITY_AS_RECONFIG"

func TestMain(m *testing.M) {
	etcdtest.MaybeServe()
	if os.Getenv(asReconfig) != "" {
		os.Exit(command.Run(context.Background(), os.Args, command.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

// size is n in `make test` and full with RECONFIG_LONG set (`make test-long`).
func size(n, full int) int {
	if os.Getenv("RECONFIG_LONG") != "" {
		return full
	}
	return n
}

// fixture is a configuration directory, a directory for targets and one
// for the logs and markers that check and reload commands leave.
type fixture struct {
	t         *testing.T
	dir       string // cfgdir: conf.d/, templates/, state.json
	out       string // targets
	marks     string // command logs and markers
	endpoints string
	extraEnv  []string
}

func newFixture(t *testing.T, endpoints string) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{t: t, dir: filepath.Join(root, "cfg"), out: filepath.Join(root, "out"), marks: filepath.Join(root, "marks"), endpoints: endpoints}
	for _, d := range []string{f.dir + "/conf.d", f.dir + "/templates", f.out, f.marks} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// expand replaces $OUT, $MARKS and $CFG.
func (f *fixture) expand(s string) string {
	return strings.NewReplacer("$OUT", f.out, "$MARKS", f.marks, "$CFG", f.dir).Replace(s)
}

// write writes a file under the cfgdir (or an absolute path), expanded.
func (f *fixture) write(name, content string) string {
	f.t.Helper()
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(f.dir, name)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(f.expand(content)), 0o755); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// binding writes conf.d/<id> from fields (string values expanded).
func (f *fixture) binding(id string, fields map[string]any) {
	f.t.Helper()
	b := map[string]any{"id": id}
	for k, v := range fields {
		if s, ok := v.(string); ok {
			v = f.expand(s)
		}
		b[k] = v
	}
	data, err := json.Marshal(b)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write("conf.d/"+id, string(data))
}

func (f *fixture) statePath() string { return filepath.Join(f.dir, "state.json") }

func (f *fixture) target(name string) string { return filepath.Join(f.out, name) }

// command is reconfig (this test binary) with args, against the fixture.
func (f *fixture) command(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), asReconfig+"=1", "RECONFIG_CFGDIR="+f.dir, "RECONFIG_ENDPOINTS="+f.endpoints,
		"RECONFIG_DIAL_TIMEOUT=2s", "RECONFIG_COMMAND_TIMEOUT=5s", "NO_COLOR=1")
	cmd.Env = append(cmd.Env, f.extraEnv...)
	return cmd
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCmd runs cmd to its end (at most a minute).
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	return runCmdWithin(t, cmd, time.Minute)
}

// runCmdWithin runs cmd to its end, killing it and failing the test when
// it has not finished within limit: a process that hangs fails the test
// rather than hanging it.
func runCmdWithin(t *testing.T, cmd *exec.Cmd, limit time.Duration) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish within %s (it hangs)\nstdout:\n%s\nstderr:\n%s", cmd.Args, limit, out.String(), errb.String())
	}
	r := result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return r
}

// run runs reconfig with args to its end.
func (f *fixture) run(args ...string) result {
	f.t.Helper()
	return runCmd(f.t, f.command(args...))
}

// mustApply runs apply --auto-approve and fails the test unless it exits 0.
func (f *fixture) mustApply() result {
	f.t.Helper()
	r := f.run("apply", "--auto-approve")
	if r.code != 0 {
		f.t.Fatalf("apply: %s", r)
	}
	return r
}

// daemon is `reconfig watch` running as a separate process.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *testfixtures.SyncBuffer
	done chan struct{}
	err  error
}

// startWatch starts `reconfig watch` with extra args; the test's end stops
// it with SIGTERM and requires exit status 0.
func (f *fixture) startWatch(args ...string) *daemon {
	f.t.Helper()
	cmd := f.command(append([]string{"--debug", "watch"}, args...)...)
	d := &daemon{t: f.t, cmd: cmd, log: &testfixtures.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	f.t.Cleanup(func() {
		d.stop()
		if f.t.Failed() {
			f.t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	return d
}

// stop sends SIGTERM and requires the daemon to exit 0 within 30s.
func (d *daemon) stop() {
	d.t.Helper()
	select {
	case <-d.done:
	default:
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
			d.t.Errorf("the daemon did not stop within 30s of SIGTERM")
			return
		}
	}
	if d.err != nil {
		d.t.Errorf("the daemon exited with %v, want status 0", d.err)
	}
}

// alive fails the test if the daemon has exited.
func (d *daemon) alive() {
	d.t.Helper()
	select {
	case <-d.done:
		d.t.Fatalf("the daemon exited (%v); it must keep running:\n%s", d.err, d.log.String())
	default:
	}
}

// awaitLog waits until the daemon's log holds substr at least n times.
func (d *daemon) awaitLog(substr string, n int, timeout time.Duration) {
	d.t.Helper()
	eventually(d.t, timeout, fmt.Sprintf("the daemon to log %q %d times", substr, n), func() bool {
		d.alive()
		return strings.Count(d.log.String(), substr) >= n
	})
}

// eventually polls cond (every 5ms) until it holds, failing after timeout.
// It is for conditions no event announces: a file's content written by
// another process, a log line.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// awaitRecorded waits until the state records the target's content: the
// cycle that wrote it has ended.
func (f *fixture) awaitRecorded(name string) {
	f.t.Helper()
	path := f.target(name)
	eventually(f.t, 30*time.Second, "the state to record "+path, func() bool {
		st, err := state.Load(f.statePath())
		if err != nil || !st.Exists() {
			return false
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		for _, rec := range st.Bindings {
			if rec.Target == path && rec.SHA256 == hash(data) {
				return true
			}
		}
		return false
	})
}

// awaitContent waits until path holds want.
func awaitContent(t *testing.T, path, want string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%s to hold %q", path, want), func() bool {
		b, err := os.ReadFile(path)
		return err == nil && string(b) == want
	})
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// strays lists reconfig's staged temporary files (".reconfig-*") in dirs.
func strays(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".reconfig-") {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	return out
}

// fileID identifies one version of a file: a replaced file has a new inode.
type fileID struct {
	ino   uint64
	mtime time.Time
	size  int64
}

func identify(t *testing.T, p string) fileID {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fileID{ino: info.Sys().(*syscall.Stat_t).Ino, mtime: info.ModTime(), size: info.Size()}
}

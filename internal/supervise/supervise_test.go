package supervise_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/supervise"
)

// program is a child that says on its standard output what happens to
// it: "ready" once its traps are set, then one line per signal. It exits
// 3 on SIGTERM and 4 on SIGINT unless told to ignore SIGTERM.
const program = `
trap 'echo hup' HUP
trap 'echo int; exit 4' INT
if [ "$IGNORE_TERM" = 1 ]; then
	trap 'echo term ignored' TERM
else
	trap 'echo term; exit 3' TERM
fi
echo "ready $GREETING"
while :; do sleep 60 & wait $!; done
`

// child starts a supervisor of script and returns it with the lines the
// child writes.
func child(t *testing.T, script string, reload syscall.Signal, env ...string) (*supervise.Supervisor, *lines) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "prog.sh")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s, err := supervise.New(supervise.Options{
		Command:      "sh " + path,
		Env:          append([]string{"PATH=" + os.Getenv("PATH")}, env...),
		Stdout:       w,
		Stderr:       w,
		ReloadSignal: reload,
		KillTimeout:  300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop(syscall.SIGKILL)
		<-s.Done()
		w.Close()
		r.Close()
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	l := &lines{c: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.c <- sc.Text()
		}
		close(l.c)
	}()
	return s, l
}

type lines struct{ c chan string }

// expect waits for the child's next line and checks it.
func (l *lines) expect(t *testing.T, want string) string {
	t.Helper()
	select {
	case got, ok := <-l.c:
		if !ok {
			t.Fatalf("the child's output ended; want %q", want)
		}
		if !regexp.MustCompile("^" + want + "$").MatchString(got) {
			t.Fatalf("the child wrote %q, want %q", got, want)
		}
		return got
	case <-time.After(10 * time.Second):
		t.Fatalf("no line from the child after 10s; want %q", want)
	}
	return ""
}

// ended waits for the supervisor to end and returns the child's status.
func ended(t *testing.T, s *supervise.Supervisor) int {
	t.Helper()
	select {
	case <-s.Done():
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		return s.Code()
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor has not ended after 10s")
	}
	return 0
}

func running(t *testing.T, s *supervise.Supervisor) {
	t.Helper()
	select {
	case <-s.Done():
		t.Fatalf("the supervisor ended (status %d); the child should run", s.Code())
	default:
	}
}

// A change sends the reload signal to the program itself (not to a shell
// in between), as often as changes come; its environment is the one
// given.
func TestChangedSignals(t *testing.T) {
	s, out := child(t, program, syscall.SIGHUP, "GREETING=hello")
	out.expect(t, "ready hello")
	for range 3 {
		s.Changed()
		out.expect(t, "hup")
	}
	running(t, s)
	s.Stop(syscall.SIGTERM)
	out.expect(t, "term")
	if code := ended(t, s); code != 3 {
		t.Fatalf("status %d, want the child's 3", code)
	}
}

// Without a reload signal a change restarts the program: SIGTERM to the
// old one, a new one started, the supervisor still running.
func TestChangedRestarts(t *testing.T) {
	s, out := child(t, program, 0)
	out.expect(t, "ready ")
	s.Changed()
	out.expect(t, "term")
	out.expect(t, "ready ")
	running(t, s)
	s.Changed()
	out.expect(t, "term")
	out.expect(t, "ready ")
	s.Stop(syscall.SIGINT)
	out.expect(t, "int")
	if code := ended(t, s); code != 4 {
		t.Fatalf("status %d, want the child's 4", code)
	}
}

// A program that ignores SIGTERM is killed after the kill timeout, on a
// restart (which then starts a new one) and on Stop (status 128+9).
func TestKillTimeout(t *testing.T) {
	s, out := child(t, program, 0, "IGNORE_TERM=1")
	out.expect(t, "ready ")
	s.Changed()
	out.expect(t, "term ignored")
	out.expect(t, "ready ")
	running(t, s)
	s.Stop(syscall.SIGTERM)
	out.expect(t, "term ignored")
	if code := ended(t, s); code != 128+9 {
		t.Fatalf("status %d, want 137 (SIGKILL)", code)
	}
}

// A program that ends by itself ends the supervisor with its status: its
// exit code, or 128+N for signal N.
func TestChildEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   int
	}{
		{name: "exit 0", script: "echo bye; exit 0", want: 0},
		{name: "exit 7", script: "echo bye; exit 7", want: 7},
		{name: "killed by SIGUSR1", script: "echo bye; kill -USR1 $$", want: 128 + 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, out := child(t, tc.script, syscall.SIGHUP)
			out.expect(t, "bye")
			if code := ended(t, s); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
			if !s.Started() {
				t.Fatal("Started is false for a child that ran")
			}
			// Changes after the end start nothing.
			s.Changed()
			s.Stop(syscall.SIGTERM)
			if code := s.Code(); code != tc.want {
				t.Fatalf("status changed to %d after the end", code)
			}
		})
	}
}

// What the program left running goes with it.
func TestLeftoversKilled(t *testing.T) {
	s, out := child(t, "sleep 60 & echo $!; exit 5", syscall.SIGHUP)
	pid, err := strconv.Atoi(out.expect(t, "[0-9]+"))
	if err != nil {
		t.Fatal(err)
	}
	if code := ended(t, s); code != 5 {
		t.Fatalf("status %d, want 5", code)
	}
	// Killed, then reaped by whoever inherited it: no event to wait on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the program's background sleep (pid %d) still runs: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop before Start: nothing ever runs.
func TestStopBeforeStart(t *testing.T) {
	s, err := supervise.New(supervise.Options{Command: "sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop(syscall.SIGTERM)
	if code := ended(t, s); code != 0 {
		t.Fatalf("status %d, want 0", code)
	}
	if err := s.Start(); err != nil || s.Started() {
		t.Fatalf("Start after Stop: started %v, error %v", s.Started(), err)
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
	}{
		{"HUP", syscall.SIGHUP}, {"SIGHUP", syscall.SIGHUP}, {"hup", syscall.SIGHUP},
		{"usr2", syscall.SIGUSR2}, {"QUIT", syscall.SIGQUIT},
	} {
		if got, err := supervise.ParseSignal(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"KILL", "STOP", "9", "", "SIGFOO"} {
		if _, err := supervise.ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) accepted", bad)
		}
	}
}

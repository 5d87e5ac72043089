package supervise

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Options configure a Supervisor.
type Options struct {
	// Command is the command line, run by /bin/sh -c after ExecLine.
	Command string
	// Env is the child's environment.
	Env []string
	// Stdin, Stdout and Stderr are the child's (reconfig's own, in a
	// container).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ReloadSignal is sent to the child on a change; 0 restarts it
	// instead.
	ReloadSignal syscall.Signal
	// KillTimeout is how long a child told to stop (SIGTERM for a
	// restart, a forwarded signal for Stop) may take before it gets
	// SIGKILL (default 10s).
	KillTimeout time.Duration
	Logger      *slog.Logger
}

// Supervisor runs one child program; see the package comment.
type Supervisor struct {
	o    Options
	line string

	mu       sync.Mutex
	started  bool
	stopping bool
	ended    bool
	code     int
	err      error

	changed chan struct{}  // a change to pass on; one pending at most
	stop    chan os.Signal // signals to forward
	done    chan struct{}
}

// New checks the command line and returns a supervisor that has not
// started anything yet.
//
// A child inherits the signals its parent ignores, and a shell cannot
// trap a signal that was ignored when it started: the caller must handle
// the signals the child is to act on (signal.Notify) before Start, so
// that a reconfig started under nohup, which ignores SIGHUP, or as a
// background job, which ignores SIGINT, starts its program with them at
// their defaults.
func New(o Options) (*Supervisor, error) {
	line, err := ExecLine(o.Command)
	if err != nil {
		return nil, err
	}
	if o.KillTimeout <= 0 {
		o.KillTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{o: o, line: line, changed: make(chan struct{}, 1),
		stop: make(chan os.Signal, 8), done: make(chan struct{})}, nil
}

// Start starts the child, unless it was started before or Stop came
// first. An error (no /bin/sh) ends the supervisor: Done is closed and
// Err returns it.
func (s *Supervisor) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopping {
		return nil
	}
	s.started = true
	c, err := s.spawn()
	if err != nil {
		s.end(0, err)
		return err
	}
	go s.run(c)
	return nil
}

// Started reports whether the child was started.
func (s *Supervisor) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Changed tells the child that its config files changed: the reload
// signal, or a restart. It does not wait; changes that arrive while a
// restart is under way make one more.
func (s *Supervisor) Changed() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Stop forwards sig to the child (again on each call) and sends SIGKILL
// if the child is still there after the kill timeout; no restart follows.
// Before Start, it ends the supervisor with no child at all.
func (s *Supervisor) Stop(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.stopping = true
	if !s.started {
		s.end(0, nil)
		return
	}
	select {
	case s.stop <- sig:
	default:
	}
}

// Done is closed once the child has ended for good.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Code is the child's exit status once Done is closed (0 when it never
// started): its exit code, or 128+N when signal N killed it.
func (s *Supervisor) Code() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

// Err is why the child could not be started, once Done is closed.
func (s *Supervisor) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// end records the outcome and closes done; s.mu is held.
func (s *Supervisor) end(code int, err error) {
	s.ended, s.code, s.err = true, code, err
	close(s.done)
}

// child is one run of the program.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once it has been waited for
	code   int
}

func (s *Supervisor) spawn() (*child, error) {
	cmd := exec.Command("/bin/sh", "-c", s.line)
	cmd.Env = s.o.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.o.Stdin, s.o.Stdout, s.o.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	// Output copied through pipes (not files) may be held open by what
	// the program left running: stop waiting for it a second after the
	// program exits.
	cmd.WaitDelay = time.Second
	c := &child{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Started and waited for on one thread, which lives as long as
		// the child: its end is the child's parent-death signal.
		unlock := lockThread()
		defer unlock()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait() // the status is in ProcessState
		c.code = exitCode(cmd.ProcessState)
		// Whatever it started and left behind goes with it.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("--exec %q: %w", s.o.Command, err)
	}
	s.o.Logger.Info("program started", "pid", cmd.Process.Pid, "command", s.o.Command)
	return c, nil
}

// exitCode is the status a shell would report for the process.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 127
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	return 1
}

func (c *child) signal(sig os.Signal) {
	// A child that has just exited is not there to tell: nothing to do.
	c.cmd.Process.Signal(sig)
}

func (c *child) kill() { syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) }

// run watches the child until it ends for good.
func (s *Supervisor) run(c *child) {
	log := s.o.Logger
	var killAt <-chan time.Time // set once the child was told to stop
	stopping := false
	for {
		select {
		case <-c.exited:
			lvl := slog.LevelInfo
			if !stopping {
				lvl = slog.LevelWarn
			}
			log.Log(context.Background(), lvl, "program exited; reconfig exits with its status", "pid", c.cmd.Process.Pid, "status", c.code)
			s.mu.Lock()
			s.end(c.code, nil)
			s.mu.Unlock()
			return
		case sig := <-s.stop:
			stopping = true
			log.Info("passing the signal on to the program", "signal", sig.String(), "pid", c.cmd.Process.Pid)
			c.signal(sig)
			if killAt == nil {
				killAt = time.After(s.o.KillTimeout)
			}
		case <-killAt:
			log.Warn("program still running after the kill timeout; sending SIGKILL", "pid", c.cmd.Process.Pid, "timeout", s.o.KillTimeout.String())
			c.kill()
		case <-s.changed:
			if stopping {
				continue
			}
			if s.o.ReloadSignal != 0 {
				log.Info("config changed; signalling the program", "signal", s.o.ReloadSignal.String(), "pid", c.cmd.Process.Pid)
				c.signal(s.o.ReloadSignal)
				continue
			}
			next, ok := s.restart(c)
			if !ok {
				return
			}
			c = next
		}
	}
}

// restart stops c (SIGTERM, the kill timeout, SIGKILL) and starts a new
// child. It returns false when the supervisor ended instead: Stop came
// meanwhile, or the new child could not start.
func (s *Supervisor) restart(c *child) (*child, bool) {
	log := s.o.Logger
	log.Info("config changed; restarting the program", "pid", c.cmd.Process.Pid)
	c.signal(syscall.SIGTERM)
	kill := time.NewTimer(s.o.KillTimeout)
	defer kill.Stop()
	stopped := false
	for waiting := true; waiting; {
		select {
		case <-c.exited:
			waiting = false
		case sig := <-s.stop:
			stopped = true
			c.signal(sig)
		case <-kill.C:
			log.Warn("program still running after the kill timeout; sending SIGKILL", "pid", c.cmd.Process.Pid, "timeout", s.o.KillTimeout.String())
			c.kill()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if stopped || s.stopping {
		log.Info("program exited; reconfig exits with its status", "pid", c.cmd.Process.Pid, "status", c.code)
		s.end(c.code, nil)
		return nil, false
	}
	log.Info("program stopped for the restart", "pid", c.cmd.Process.Pid, "status", c.code)
	next, err := s.spawn()
	if err != nil {
		s.end(0, err)
		return nil, false
	}
	return next, true
}

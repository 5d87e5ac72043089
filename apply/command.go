package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reconfig/reconfig/internal/shellquote"
	"github.com/reconfig/reconfig/plan"
)

// CommandResult is one run of a check or reload command.
type CommandResult struct {
	// Command is the shell command as run (placeholders replaced).
	Command  string
	ExitCode int // -1 when it did not exit by itself
	// Output is its stdout and stderr, interleaved, cut to maxOutput.
	Output   string
	Duration time.Duration
	TimedOut bool
	// Err is set when the command failed: a non-zero exit, a timeout, or
	// a failure to start it.
	Err error
}

// maxOutput bounds the captured output of a command.
const maxOutput = 64 << 10

var srcRE = regexp.MustCompile(`\{\{\s*\.src\s*\}\}`)

// usesSrc reports whether a checkcmd checks the staged file.
func usesSrc(cmd string) bool { return srcRE.MatchString(cmd) }

// expand replaces {{.src}} and {{.dest}} in a checkcmd, each quoted for
// the place it has in the shell command (shellquote), so that a path is
// one word whatever it holds. A placeholder where no quoting holds
// (inside backquotes, a here-document, ...) is an error; validate reports
// it before.
func expand(cmd, src, dest string) (string, error) {
	return shellquote.Expand(cmd, map[string]string{"src": src, "dest": dest})
}

// runCheck runs a binding's checkcmd against src (the staged file or the
// installed target). A checkcmd that cannot be expanded fails without
// running.
func runCheck(ctx context.Context, run runner, ch *plan.Change, src string, env []string) *CommandResult {
	cmd, err := expand(ch.CheckCmd, src, ch.Target)
	if err != nil {
		return &CommandResult{Command: ch.CheckCmd, ExitCode: -1, Err: fmt.Errorf("checkcmd: %w", err)}
	}
	r := run(ctx, cmd, env, ch.CommandTimeout)
	if ch.Sensitive {
		r.hideOutput()
	}
	return r
}

// hiddenOutput stands for the output of a sensitive binding's command: a
// checker quotes the lines it refuses, and those hold secrets.
const hiddenOutput = "(output hidden: the binding is sensitive)"

// hideOutput drops the output of a command run for a sensitive binding.
func (r *CommandResult) hideOutput() {
	if r.Output != "" {
		r.Output = hiddenOutput
	}
}

type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	cut bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxOutput - c.buf.Len(); room < len(p) {
		c.buf.Write(p[:max(room, 0)])
		c.cut = true
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *cappedBuffer) String() string {
	if c.cut {
		return c.buf.String() + "\n[output cut at 64 KiB]"
	}
	return c.buf.String()
}

// ChildEnv is reconfig's environment without its own settings: the
// RECONFIG_* variables include the etcd password and the key passphrase,
// which no command reconfig runs (check, reload, watch --exec) may see.
func ChildEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECONFIG_") {
			out = append(out, kv)
		}
	}
	return out
}

// runner runs a check or reload command: run, or show for ShowCommands.
type runner func(ctx context.Context, command string, env []string, timeout time.Duration) *CommandResult

// notRun is the output of a command shown and not run.
const notRun = "(not run: commands are only shown here)"

// show reports a command without running it, as a success.
func show(_ context.Context, command string, _ []string, _ time.Duration) *CommandResult {
	return &CommandResult{Command: command, Output: notRun}
}

// run runs command with /bin/sh -c in its own process group, so that a
// timeout kills the command and everything it started.
func run(ctx context.Context, command string, env []string, timeout time.Duration) *CommandResult {
	r := &CommandResult{Command: command, ExitCode: -1}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = append(ChildEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A command that leaves children holding its output open must not
	// hold reconfig: stop waiting for the output shortly after it exits.
	cmd.WaitDelay = time.Second
	var out cappedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r.Duration = time.Since(start)
	r.Output = out.String()
	if cmd.ProcessState != nil {
		r.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.TimedOut = true
		r.Err = fmt.Errorf("timed out after %s and was killed", timeout)
	case err != nil && r.ExitCode > 0:
		r.Err = fmt.Errorf("exited with status %d", r.ExitCode)
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited 0 but left children holding its output: that is
		// success; the children keep running.
	case err != nil:
		r.Err = err
	}
	return r
}

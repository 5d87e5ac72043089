package command

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/supervise"
	"github.com/reconfig/reconfig/internal/watch"
	"github.com/reconfig/reconfig/plan"
)

// execArgs are watch --exec's: the program to run once the files are in
// place.
type execArgs struct {
	command     string
	signal      syscall.Signal // 0: restart on a change
	killTimeout time.Duration
}

func execFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "exec", Usage: "run `\"CMD ARGS\"` once every binding has rendered, tell it of changes, exit with it (a container's entrypoint)", EnvVars: envs("exec")},
		&cli.StringFlag{Name: "exec-reload-signal", Usage: "with --exec: send `SIGNAL` (HUP, USR1, ...) on a change instead of restarting the program", EnvVars: envs("exec-reload-signal")},
		&cli.DurationFlag{Name: "exec-kill-timeout", Usage: "with --exec: SIGKILL a program still running `D` after SIGTERM", Value: 10 * time.Second, EnvVars: envs("exec-kill-timeout")},
	}
}

// readExec reads --exec and its flags (nil without --exec).
func readExec(c *cli.Context) (*execArgs, error) {
	if c.String("exec") == "" {
		if c.IsSet("exec") {
			return nil, &usageError{msg: "--exec names no program", cmd: "watch"}
		}
		for _, f := range []string{"exec-reload-signal", "exec-kill-timeout"} {
			if c.IsSet(f) && os.Getenv(envs(f)[0]) == "" {
				return nil, &usageError{msg: "--" + f + " needs --exec", cmd: "watch"}
			}
		}
		return nil, nil
	}
	a := &execArgs{command: c.String("exec"), killTimeout: c.Duration("exec-kill-timeout")}
	if _, err := supervise.ExecLine(a.command); err != nil {
		return nil, hint.Wrap(fmt.Errorf("--exec %w", err),
			"for several commands, write a script that ends in `exec PROGRAM` and give --exec the script")
	}
	if name := c.String("exec-reload-signal"); name != "" {
		sig, err := supervise.ParseSignal(name)
		if err != nil {
			return nil, &usageError{msg: "--exec-reload-signal: " + err.Error(), cmd: "watch"}
		}
		a.signal = sig
	}
	if a.killTimeout <= 0 {
		return nil, &usageError{msg: "--exec-kill-timeout must be positive", cmd: "watch"}
	}
	return a, nil
}

// supervisor makes the supervisor of --exec's program, not started yet
// (the execGate starts it); the program's end stops the daemon (stop).
func supervisor(ctx context.Context, stop context.CancelFunc, env *runEnv, a *execArgs, log *slog.Logger) (*supervise.Supervisor, error) {
	sup, err := supervise.New(supervise.Options{
		Command: a.command, Env: apply.ChildEnv(),
		Stdin: env.io.Stdin, Stdout: env.io.Stdout, Stderr: env.io.Stderr,
		ReloadSignal: a.signal, KillTimeout: a.killTimeout, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	go func() {
		select {
		case <-sup.Done():
			if sup.Started() {
				log.Info("stopping: the program ended; finishing the cycle in flight")
			}
			stop()
		case <-ctx.Done():
		}
	}()
	return sup, nil
}

// execGate starts the program once every binding has its target in place
// (rendered and written, or already as rendered), and passes on each
// later cycle that changed a target. A binding that failed, or was
// skipped for want of data, holds the start back, as consul-template
// holds its child until every template rendered: the program never starts
// on a config reconfig did not write.
type execGate struct {
	sup *supervise.Supervisor
	log *slog.Logger
	// ids are the bindings of the configuration last loaded; placed says
	// which of them have their target in place.
	ids     []string
	placed  map[string]bool
	waiting string // the bindings last logged as holding the start
}

func newExecGate(sup *supervise.Supervisor, log *slog.Logger) *execGate {
	return &execGate{sup: sup, log: log, placed: map[string]bool{}}
}

// loaded learns the bindings of a configuration the daemon loaded.
func (g *execGate) loaded(set *bindings.Set) {
	g.ids = g.ids[:0]
	for _, b := range set.Bindings {
		g.ids = append(g.ids, b.ID)
	}
	if len(g.ids) == 0 {
		// Nothing to render: nothing to wait for. (A failed start ends the
		// supervisor; runWatch returns its error.)
		g.sup.Start()
	}
}

// cycle takes the outcome of one cycle of the daemon.
func (g *execGate) cycle(c watch.Cycle) {
	if c.Result == nil {
		return
	}
	if g.sup.Started() {
		if slices.ContainsFunc(c.Result.Outcomes, func(o *apply.Outcome) bool { return o.Changed }) {
			g.sup.Changed()
		}
		return
	}
	for _, o := range c.Result.Outcomes {
		g.placed[o.ID] = !o.Failed() && o.Action != plan.Skip
	}
	var waiting []string
	for _, id := range g.ids {
		if !g.placed[id] {
			waiting = append(waiting, id)
		}
	}
	if len(waiting) == 0 {
		g.log.Info("every binding has rendered; starting the program")
		g.sup.Start()
		return
	}
	if w := strings.Join(waiting, ","); w != g.waiting {
		g.log.Info("the program starts once every binding has rendered", "waiting_for", w)
		g.waiting = w
	}
}

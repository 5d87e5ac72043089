package command

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/plan"
)

type applyArgs struct {
	planFile    string
	autoApprove bool
	json        bool
	targets     []string
	prune       bool
	lockTimeout time.Duration
	force       bool
}

func applyCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "write the changed targets, check and reload, record the state",
		UsageText: `reconfig apply [PLANFILE] [--auto-approve] [--json] [--target ID]... [--prune] [--lock-timeout D] [--force]

Plans, shows the plan and asks for "yes"; then writes each changed target
atomically, runs its checkcmd, runs each distinct reloadcmd once, and records
the revision and every target's hash in the state file. With PLANFILE
(from plan --out) it applies exactly that plan, without etcd and without
asking, and refuses it if a target or the state changed since.

Examples:
   reconfig apply
   echo yes | reconfig apply
   reconfig apply --auto-approve             # cron
   reconfig plan --out p.plan && reconfig apply p.plan`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "auto-approve", Usage: "do not ask for confirmation"},
			&cli.BoolFlag{Name: "json", Usage: "print the plan and the outcome as one JSON document (needs --auto-approve or PLANFILE)"},
			&cli.StringSliceFlag{Name: "target", Usage: "apply only the binding with this `ID` (repeatable)"},
			&cli.BoolFlag{Name: "prune", Usage: "delete targets recorded in state whose binding was removed"},
			&cli.DurationFlag{Name: "lock-timeout", Usage: "wait up to `DURATION` for a held state lock", Value: 0},
			&cli.BoolFlag{Name: "force", Usage: "use a state file recorded for another etcd cluster"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return &usageError{msg: "apply takes at most one argument, a plan file", cmd: "apply"}
			}
			return runApply(c, env, applyArgs{
				planFile:    c.Args().First(),
				autoApprove: c.Bool("auto-approve"),
				json:        c.Bool("json"),
				targets:     c.StringSlice("target"),
				prune:       c.Bool("prune"),
				lockTimeout: c.Duration("lock-timeout"),
				force:       c.Bool("force"),
			})
		},
	}
}

func runApply(c *cli.Context, env *runEnv, a applyArgs) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	if a.planFile != "" && (len(a.targets) > 0 || a.prune) {
		return &usageError{msg: "--target and --prune belong to the plan: give them to `reconfig plan --out`", cmd: "apply"}
	}
	if a.json && !a.autoApprove && a.planFile == "" {
		return &usageError{msg: "--json needs --auto-approve (or a plan file): there is no prompt in JSON mode", cmd: "apply"}
	}
	log := newLogger(g, env.io.Stderr)

	req := engine.Request{StatePath: g.statePath, Force: a.force, Holder: "apply", LockWait: a.lockTimeout, HoldInterrupts: true}
	if a.planFile != "" {
		p, err := plan.ReadFile(a.planFile)
		if err != nil {
			return err
		}
		req.Saved = &engine.Saved{Plan: p, Path: a.planFile, CfgDir: g.cfgDir}
	} else {
		cfg, err := engine.Load(g.cfgDir)
		if err != nil {
			return err
		}
		set, err := selectTargets(cfg.Set, a.targets)
		if err != nil {
			return err
		}
		req.Config, req.Set, req.Partial, req.Prune = cfg, set, len(a.targets) > 0, a.prune
		req.Snapshot = func(ctx context.Context) (*snapshot.Snapshot, error) {
			return env.readSnapshot(ctx, g, set, "", log)
		}
	}
	// What comes before the outcome is shown once: before anything is
	// written (and before the question), or when the cycle ends without a
	// change to write.
	out := view.NewApply(env.view(), a.json)
	shown := false
	show := func(run *engine.Run) {
		if !shown {
			shown = true
			out.Before(run.Recovered, run.Plan, a.planFile != "")
		}
	}
	// printing is closed once a plan printed while it executes is out.
	var printing chan struct{}
	req.Confirm = func(run *engine.Run) error {
		if a.autoApprove || a.planFile != "" {
			// Nothing to ask: the plan (thousands of lines, with diffs)
			// is printed while it executes, not before, and the outcome
			// once both are done. The output is the same.
			shown, printing = true, make(chan struct{})
			recovered, p := run.Recovered, run.Plan
			go func() {
				defer close(printing)
				out.Before(recovered, p, a.planFile != "")
			}()
			return nil
		}
		show(run)
		return confirm(env.io.Stdin, out)
	}

	run, err := engine.Apply(c.Context, req)
	if printing != nil {
		<-printing
	}
	show(run)
	if err != nil {
		return err
	}
	p, res := run.Plan, run.Result
	if err := out.Applied(p, res, a.planFile); err != nil {
		return err
	}
	if run.SaveErr != nil {
		return run.SaveErr
	}
	log.Debug("state saved", "path", g.statePath, "serial_before", run.SerialBefore, "serial", run.State.Serial)
	if res.Failed() {
		return exit(ExitError)
	}
	return nil
}

// errNoInput is a prompt with nothing to read.
var errNoInput = errors.New("apply needs confirmation, but there is no input to read it from")

// confirm asks for "yes" on one line of in.
func confirm(in io.Reader, out view.ApplyView) error {
	out.Prompt()
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		out.Answered()
		return &exitError{code: ExitError, err: hint.Wrap(errNoInput, "pass --auto-approve, or pipe the answer: echo yes | reconfig apply")}
	}
	if strings.TrimSpace(line) != "yes" {
		out.Cancelled()
		return exit(ExitDeclined)
	}
	out.Answered()
	return nil
}

package command

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
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
			&cli.DurationFlag{Name: "lock-timeout", Usage: "wait this long for a held state lock", Value: 0},
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

	var (
		cfg *config
		p   *plan.Plan
	)
	if a.planFile != "" {
		if p, err = plan.ReadFile(a.planFile); err != nil {
			return err
		}
	} else if cfg, err = loadConfig(g.cfgDir); err != nil {
		return err
	}

	lock, err := state.Acquire(c.Context, g.statePath, "apply", a.lockTimeout)
	if err != nil {
		return err
	}
	defer lock.Release()
	recovered, err := apply.Recover(g.statePath)
	if a.json {
		// Stdout is one JSON document.
		view.Recovered(env.io.Stderr, env.errStyle(), recovered)
	} else {
		view.Recovered(env.io.Stdout, env.style, recovered)
	}
	if err != nil {
		return err
	}
	st, err := state.Load(g.statePath)
	if err != nil {
		return err
	}

	if a.planFile != "" {
		set, err := bindings.Load(g.cfgDir)
		if err != nil {
			return &hinted{err: fmt.Errorf("a saved plan is checked against the bindings, and they cannot be loaded: %w", err),
				hint: "fix the bindings (`reconfig validate`), or pass the --cfgdir the plan was made with"}
		}
		if err := p.CheckFresh(a.planFile, st); err != nil {
			return err
		}
		if err := p.Verify(a.planFile, set, st); err != nil {
			return err
		}
		if err := st.CheckCluster(g.statePath, p.ClusterID, a.force); err != nil {
			return err
		}
	} else {
		set, err := selectTargets(cfg.set, a.targets)
		if err != nil {
			return err
		}
		snap, err := env.readSnapshot(c.Context, g, set, "", log)
		if err != nil {
			return err
		}
		if err := st.CheckCluster(g.statePath, snap.ClusterID, a.force); err != nil {
			return err
		}
		p = plan.Make(c.Context, plan.Input{Set: set, Templates: cfg.templates, Snapshot: snap, State: st,
			Partial: len(a.targets) > 0, Prune: a.prune})
		if !a.json {
			view.Plan(env.io.Stdout, env.style, p)
		}
		if p.HasChanges() && !a.autoApprove {
			if err := confirm(env); err != nil {
				return err
			}
		}
	}

	// Finish the cycle even if interrupted: every write is atomic, but
	// a reload skipped halfway would leave a daemon on old config.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)

	res := apply.Execute(c.Context, p, apply.Options{Journal: state.JournalPath(g.statePath)})
	before := st.Serial
	var saveErr error
	if res.Record(st, p, time.Now().UTC()) {
		saveErr = st.Save(g.statePath)
	}
	if a.json {
		if err := view.ApplyJSON(env.io.Stdout, p, res); err != nil {
			return err
		}
	} else {
		if a.planFile != "" {
			fmt.Fprintf(env.io.Stdout, "Applying plan %s (etcd revision %d).\n", a.planFile, p.Revision)
		}
		if p.HasChanges() || res.Failed() {
			if a.planFile == "" {
				fmt.Fprintln(env.io.Stdout)
			}
			view.Apply(env.io.Stdout, env.style, p, res)
		}
	}
	if saveErr != nil {
		return saveErr
	}
	log.Debug("state saved", "path", g.statePath, "serial_before", before, "serial", st.Serial)
	if res.Failed() {
		return exit(ExitError)
	}
	return nil
}

// errNoInput is a prompt with nothing to read.
var errNoInput = errors.New("apply needs confirmation, but there is no input to read it from")

// confirm asks for "yes" on one line of stdin.
func confirm(env *runEnv) error {
	w := env.io.Stdout
	fmt.Fprint(w, "\nDo you want to apply these changes?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, err := bufio.NewReader(env.io.Stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		fmt.Fprintln(w)
		return &exitError{code: ExitError, err: &hinted{err: errNoInput,
			hint: "pass --auto-approve, or pipe the answer: echo yes | reconfig apply"}}
	}
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(w, "\nApply cancelled.")
		return exit(ExitDeclined)
	}
	fmt.Fprintln(w)
	return nil
}

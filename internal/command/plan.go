package command

import (
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

type planArgs struct {
	detailedExitcode bool
	out              string
	json             bool
	targets          []string
	snapshotFile     string
	prune            bool
}

func planCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "show what apply would change, as colored diffs at one etcd revision",
		UsageText: `reconfig plan [--detailed-exitcode] [--out FILE] [--json] [--target ID]... [--snapshot FILE] [--prune]

Takes one consistent snapshot of every key the bindings read, renders every
binding and prints a unified diff of each target that would change, then a
summary line. Nothing is written (but --out).

Examples:
   reconfig plan
   reconfig plan --detailed-exitcode        # CI: exit 0 no changes, 2 changes, 1 error
   reconfig plan --out review.plan          # then: reconfig apply review.plan
   reconfig snapshot save data.json && reconfig plan --snapshot data.json   # offline`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 2 when there are changes (0 none, 1 error)"},
			&cli.StringFlag{Name: "out", Usage: "save the plan to `FILE` for `reconfig apply FILE`"},
			&cli.BoolFlag{Name: "json", Usage: "print the plan as one JSON document"},
			&cli.StringSliceFlag{Name: "target", Usage: "plan only the binding with this `ID` (repeatable)"},
			&cli.StringFlag{Name: "snapshot", Usage: "render offline from `FILE` written by `reconfig snapshot save`"},
			&cli.BoolFlag{Name: "prune", Usage: "plan to delete targets recorded in state that no binding writes any more (for --out)"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &usageError{msg: fmt.Sprintf("plan takes no arguments (got %q)", c.Args().First()), cmd: "plan"}
			}
			return runPlan(c, env, planArgs{
				detailedExitcode: c.Bool("detailed-exitcode"),
				out:              c.String("out"),
				json:             c.Bool("json"),
				targets:          c.StringSlice("target"),
				snapshotFile:     c.String("snapshot"),
				prune:            c.Bool("prune"),
			})
		},
	}
}

func runPlan(c *cli.Context, env *runEnv, a planArgs) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	log := newLogger(g, env.io.Stderr)
	cfg, err := loadConfig(g.cfgDir)
	if err != nil {
		return err
	}
	set, err := selectTargets(cfg.set, a.targets)
	if err != nil {
		return err
	}
	st, err := state.Load(g.statePath)
	if err != nil {
		return err
	}
	snap, err := env.readSnapshot(c.Context, g, set, a.snapshotFile, log)
	if err != nil {
		return err
	}
	if err := st.CheckCluster(g.statePath, snap.ClusterID, false); err != nil {
		view.Warning(env.io.Stderr, env.errStyle(), "%v; drift is not reported", err)
		st = state.New()
	}
	p := plan.Make(c.Context, plan.Input{
		Set: set, Templates: cfg.templates, Snapshot: snap, State: st,
		Partial: len(a.targets) > 0, Prune: a.prune,
	})
	if a.out != "" {
		if err := p.Write(a.out); err != nil {
			return err
		}
	}
	if a.json {
		if err := view.PlanJSON(env.io.Stdout, p); err != nil {
			return err
		}
	} else {
		view.Plan(env.io.Stdout, env.style, p)
		if a.out != "" {
			fmt.Fprintf(env.io.Stdout, "\nSaved the plan to %s. Apply exactly these changes with:\n    reconfig apply %s\n", a.out, a.out)
		}
	}
	switch {
	case p.Failed():
		return exit(ExitError)
	case a.detailedExitcode && p.HasChanges():
		return exit(ExitChanges)
	}
	return nil
}

// newLogger builds the slog logger of --log-format and --debug.
func newLogger(g *globals, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	level := slog.LevelInfo
	if g.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

package command

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/internal/view"
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
	cfg, err := engine.Load(g.cfgDir)
	if err != nil {
		return err
	}
	set, err := selectTargets(cfg.Set, a.targets)
	if err != nil {
		return err
	}
	run, err := engine.Plan(c.Context, engine.Request{
		StatePath: g.statePath, Config: cfg, Set: set, Partial: len(a.targets) > 0, Prune: a.prune,
		Snapshot: func(ctx context.Context) (*snapshot.Snapshot, error) {
			return env.readSnapshot(ctx, g, set, a.snapshotFile, log)
		},
	})
	if err != nil {
		return err
	}
	out := view.NewPlan(env.view(), a.json)
	if run.Mismatch != nil {
		out.NoDrift(run.Mismatch)
	}
	p := run.Plan
	if a.out != "" {
		if err := p.Write(a.out); err != nil {
			return err
		}
	}
	if err := out.Plan(p, a.out); err != nil {
		return err
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

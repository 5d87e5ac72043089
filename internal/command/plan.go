package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/plan"
)

type planArgs struct {
	detailedExitcode bool
	out              string
	json             bool
	targets          []string
	snapshotFile     string
	prune            bool
	baseline         string
	// maxDiffLines is --max-diff-lines; diffLinesSet says it was given.
	maxDiffLines int
	diffLinesSet bool
}

func planCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "show what apply would change, as colored diffs at one etcd revision",
		UsageText: `reconfig plan [--detailed-exitcode] [--out FILE] [--json] [--target ID]... [--snapshot FILE] [--prune]
       [--baseline DIR] [--max-diff-lines N]

Takes one consistent snapshot of every key the bindings read, renders every
binding and prints a unified diff of each target that would change, then a
summary line. Nothing is written (but --out).

With --baseline DIR it compares two configurations instead: the same
snapshot rendered with DIR's bindings and templates (a checkout of the base
branch) and with --cfgdir's, diffed binding by binding, bindings added and
removed shown as such. It reads no target and no state file, so it runs on
a CI runner that has neither; exit codes as without it.

A terminal shows at most 1000 lines of each diff and counts the rest
(--max-diff-lines; output to a pipe or a file shows all, and --json always
has all).

Examples:
   reconfig plan
   reconfig plan --detailed-exitcode        # CI: exit 0 no changes, 2 changes, 1 error
   reconfig plan --out review.plan          # then: reconfig apply review.plan; review it with reconfig show
   reconfig snapshot save data.json && reconfig plan --snapshot data.json   # offline
   reconfig -c head/cfg plan --snapshot prod.json --baseline base/cfg --detailed-exitcode   # review a change in CI`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 2 when there are changes (0 none, 1 error)"},
			&cli.StringFlag{Name: "out", Usage: "save the plan to `FILE` for `reconfig apply FILE`"},
			&cli.BoolFlag{Name: "json", Usage: "print the plan as one JSON document"},
			&cli.StringSliceFlag{Name: "target", Usage: "plan only the binding with this `ID` (repeatable)"},
			&cli.StringFlag{Name: "snapshot", Usage: "render offline from `FILE` written by `reconfig snapshot save`"},
			&cli.BoolFlag{Name: "prune", Usage: "plan to delete targets recorded in state that no binding writes any more (for --out)"},
			&cli.StringFlag{Name: "baseline", Usage: "compare with the configuration directory `DIR` (the base branch's) rendered from the same data, instead of with the targets"},
			maxDiffLinesFlag(),
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
				baseline:         c.String("baseline"),
				maxDiffLines:     c.Int("max-diff-lines"),
				diffLinesSet:     c.IsSet("max-diff-lines"),
			})
		},
	}
}

func runPlan(c *cli.Context, env *runEnv, a planArgs) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	if a.maxDiffLines < 0 {
		return &usageError{msg: fmt.Sprintf("--max-diff-lines %d: want 0 (all) or more", a.maxDiffLines), cmd: "plan"}
	}
	log := newLogger(g, env.io.Stderr)
	if a.baseline != "" {
		return runCompare(c, env, g, a, log)
	}
	cfg, err := engine.Load(g.cfgDir)
	if err != nil {
		return err
	}
	set, err := selectTargets(cfg.Set, a.targets)
	if err != nil {
		return err
	}
	if what, _ := plan.ReservedFor(cfg.Set, g.statePath).What(a.out); a.out != "" && what != "" {
		return &usageError{msg: fmt.Sprintf("--out %s is %s: give the plan file a path of its own", a.out, what), cmd: "plan"}
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
	out := view.NewPlan(env.diffView(a.maxDiffLines, a.diffLinesSet), a.json)
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
	return planExit(p, a.detailedExitcode)
}

// planExit is plan's exit: 1 when a binding failed, 2 with
// --detailed-exitcode when there are changes.
func planExit(p *plan.Plan, detailed bool) error {
	switch {
	case p.Failed():
		return exit(ExitError)
	case detailed && p.HasChanges():
		return exit(ExitChanges)
	}
	return nil
}

// runCompare is plan --baseline: the head configuration (--cfgdir) and the
// baseline rendered from one snapshot, compared.
func runCompare(c *cli.Context, env *runEnv, g *globals, a planArgs, log *slog.Logger) error {
	switch {
	case a.out != "":
		return &usageError{msg: "--out saves a plan for apply, and a plan against --baseline compares two configurations without reading the targets: it cannot be applied", cmd: "plan"}
	case a.prune:
		return &usageError{msg: "--prune plans against the state, which --baseline does not read", cmd: "plan"}
	}
	head, err := engine.Load(g.cfgDir)
	if err != nil {
		return err
	}
	base, err := engine.Load(a.baseline)
	var broken engine.LoadErrors
	switch {
	case errors.As(err, &broken):
		return hint.Wrap(fmt.Errorf("baseline %s does not load:\n%w", a.baseline, err),
			"the baseline's own bindings or templates are broken: fix them there, or compare with another --baseline")
	case err != nil:
		return hint.Wrap(fmt.Errorf("baseline: %w", err),
			"--baseline takes the configuration directory to compare with (holding conf.d/ and templates/), such as a checkout of the base branch")
	}
	baseSet, headSet, err := selectBoth(base.Set, head.Set, a.targets)
	if err != nil {
		return err
	}
	// One snapshot covers the reads of both.
	both := &bindings.Set{Bindings: append(slices.Clone(headSet.Bindings), baseSet.Bindings...)}
	snap, err := env.readSnapshot(c.Context, g, both, a.snapshotFile, log)
	if err != nil {
		return err
	}
	p := engine.Compare(c.Context, engine.Comparison{Base: base, Head: head, BaseSet: baseSet, HeadSet: headSet, Snapshot: snap})
	out := view.NewPlan(env.diffView(a.maxDiffLines, a.diffLinesSet), a.json)
	if err := out.Compared(p, a.baseline); err != nil {
		return err
	}
	return planExit(p, a.detailedExitcode)
}

// selectBoth narrows the baseline's and the head's bindings to --target
// ids; an id must be in one of them.
func selectBoth(base, head *bindings.Set, ids []string) (*bindings.Set, *bindings.Set, error) {
	if len(ids) == 0 {
		return base, head, nil
	}
	var inBase, inHead []string
	for _, id := range ids {
		switch {
		case base.Get(id) == nil && head.Get(id) == nil:
			// Reported with the head's ids, as a plan does.
			_, err := selectTargets(head, []string{id})
			return nil, nil, err
		case base.Get(id) != nil:
			inBase = append(inBase, id)
		}
		if head.Get(id) != nil {
			inHead = append(inHead, id)
		}
	}
	b, err := base.Select(inBase)
	if err != nil {
		return nil, nil, err
	}
	h, err := head.Select(inHead)
	return b, h, err
}

// maxDiffLinesFlag is --max-diff-lines, of the commands that show plans.
func maxDiffLinesFlag() cli.Flag {
	return &cli.IntFlag{Name: "max-diff-lines", Usage: "show at most `N` lines of each diff, counting the rest (0: all; default 1000 on a terminal, all otherwise)"}
}

// diffView is the view of a command that shows diffs: cut at n lines
// when given (set), else as every view is.
func (e *runEnv) diffView(n int, set bool) *view.View {
	if set {
		return e.view().LimitDiffs(n)
	}
	return e.view()
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

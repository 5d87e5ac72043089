package command

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/plan"
)

type showArgs struct {
	planFile     string
	json         bool
	maxDiffLines int
	diffLinesSet bool
}

func showCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "print a saved plan for review, without etcd",
		UsageText: `reconfig show PLANFILE [--json] [--max-diff-lines N]

Prints a plan saved with plan --out as plan printed it: each change with its
diff, the skipped and failed bindings, the summary, and when and at which
etcd revision it was made. It reads the plan file only: no etcd, no
targets, no state; sensitive content stays hidden. A terminal shows at most
1000 lines of each diff (--max-diff-lines).

Examples:
   reconfig plan --out review.plan && reconfig show review.plan
   reconfig show review.plan --json | jq '.bindings[] | select(.action != "no-op")'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the plan as one JSON document, as plan --json does"},
			maxDiffLinesFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return &usageError{msg: "show takes one argument, a plan file (from `reconfig plan --out FILE`)", cmd: "show"}
			}
			return runShow(c, env, showArgs{
				planFile:     c.Args().First(),
				json:         c.Bool("json"),
				maxDiffLines: c.Int("max-diff-lines"),
				diffLinesSet: c.IsSet("max-diff-lines"),
			})
		},
	}
}

func runShow(c *cli.Context, env *runEnv, a showArgs) error {
	if _, err := env.globals(c); err != nil {
		return err
	}
	if a.maxDiffLines < 0 {
		return &usageError{msg: fmt.Sprintf("--max-diff-lines %d: want 0 (all) or more", a.maxDiffLines), cmd: "show"}
	}
	p, err := plan.ReadFile(a.planFile)
	if err != nil {
		return err
	}
	out := view.NewShow(env.diffView(a.maxDiffLines, a.diffLinesSet), a.json)
	if err := out.Show(p, a.planFile); err != nil {
		return err
	}
	if p.Failed() {
		return exit(ExitError)
	}
	return nil
}

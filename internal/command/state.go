package command

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/state"
)

func stateCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "state",
		Usage: "show what the state file records, or remove a stale lock",
		UsageText: `reconfig state list
   reconfig state show ID [--json]
   reconfig state unlock`,
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the bindings the state records",
				UsageText: "reconfig state list",
				Action:    func(c *cli.Context) error { return runStateList(c, env) },
			},
			{
				Name:      "show",
				Usage:     "show one binding's record",
				UsageText: "reconfig state show ID [--json]\n\nExample:\n   reconfig state show haproxy",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the record as JSON"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &usageError{msg: "state show takes one binding id", cmd: "state show"}
					}
					return runStateShow(c, env, c.Args().First(), c.Bool("json"))
				},
			},
			{
				Name:  "unlock",
				Usage: "remove a lock file that no running reconfig holds",
				UsageText: `reconfig state unlock

The state lock is an flock on STATE.lock, which the kernel releases when its
process dies; unlock removes the file and refuses while a live process holds it.`,
				Action: func(c *cli.Context) error { return runStateUnlock(c, env) },
			},
		},
	}
}

func loadStateFor(c *cli.Context, env *runEnv) (*state.State, *globals, error) {
	g, err := env.globals(c)
	if err != nil {
		return nil, nil, err
	}
	st, err := state.Load(g.statePath)
	if err != nil {
		return nil, nil, err
	}
	return st, g, nil
}

func runStateList(c *cli.Context, env *runEnv) error {
	st, g, err := loadStateFor(c, env)
	if err != nil {
		return err
	}
	if !st.Exists() {
		env.view().StateAbsent(g.statePath)
		return nil
	}
	env.view().StateList(g.statePath, st)
	return nil
}

func runStateShow(c *cli.Context, env *runEnv, id string, asJSON bool) error {
	st, g, err := loadStateFor(c, env)
	if err != nil {
		return err
	}
	r, ok := st.Bindings[id]
	if !ok {
		return hint.Wrap(fmt.Errorf("the state %s records no binding %q", g.statePath, id), "`reconfig state list` shows the recorded ids")
	}
	if r.Sensitive {
		// A hash of a low-entropy secret is as good as the secret.
		shown := *r
		shown.SHA256, r = "", &shown
	}
	return view.NewStateShow(env.view(), asJSON).Record(id, r)
}

func runStateUnlock(c *cli.Context, env *runEnv) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	// Unlock says nothing of a lock file that named no holder: whether
	// there was one to remove is seen before.
	_, statErr := os.Lstat(state.LockPath(g.statePath))
	info, err := state.Unlock(g.statePath)
	switch {
	case err != nil:
		return err
	case info == nil && statErr == nil:
		env.view().LeftoverLockRemoved(state.LockPath(g.statePath))
		return nil
	case info == nil:
		env.view().NoLock(g.statePath)
		return nil
	}
	env.view().Unlocked(info)
	return nil
}

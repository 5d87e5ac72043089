package command

import (
	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/engine"
)

func validateCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check every binding and template, without etcd",
		UsageText: `reconfig validate

Parses every file of CFGDIR/conf.d and every template they name, and lists
all the problems found (not just the first). It never contacts etcd.

Example:
   reconfig -c /etc/reconfig validate`,
		Action: func(c *cli.Context) error { return runValidate(c, env) },
	}
}

func runValidate(c *cli.Context, env *runEnv) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	cfg, err := engine.Load(g.cfgDir)
	if err != nil {
		return err
	}
	env.view().Validated(g.cfgDir, cfg.Set.Bindings)
	return nil
}

package command

import (
	"fmt"

	"github.com/urfave/cli/v2"
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
	cfg, err := loadConfig(g.cfgDir)
	if err != nil {
		return err
	}
	w := env.io.Stdout
	n := len(cfg.set.Bindings)
	if n == 0 {
		fmt.Fprintf(w, "No bindings in %s/conf.d.\n", g.cfgDir)
		return nil
	}
	for _, b := range cfg.set.Bindings {
		fmt.Fprintf(w, "  %s  %s → %s\n", env.style.Bold.Sprint(b.ID), b.Key, b.Target)
	}
	fmt.Fprintf(w, "%d binding%s valid.\n", n, plural(n))
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

package command

import (
	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/engine"
)

func validateCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check every binding and template, without etcd",
		UsageText: `reconfig validate

Parses every file of CFGDIR/conf.d and every template they name, and lists
all the problems found (not just the first), and that every owner and group
exists on this host. It never contacts etcd. Hidden files, backups (~, .bak,
.orig) and the copies package managers and editors leave (.dpkg-old,
.rpmsave, .swp, ...) are not binding files: it lists them as skipped.

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
	env.view().SkippedFiles(cfg.Set.Skipped)
	if errs := cfg.Set.CheckOwners(); len(errs) > 0 {
		return ownerErrors(errs)
	}
	env.view().Validated(g.cfgDir, cfg.Set.Bindings)
	return nil
}

// ownerErrors are the bindings whose owner or group does not exist.
type ownerErrors bindings.Errors

func (e ownerErrors) Error() string { return bindings.Errors(e).Error() }

func (e ownerErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, err := range e {
		errs[i] = err
	}
	return errs
}

func (e ownerErrors) Hint() string {
	return "create the user or group on this host, or name one that exists (a number is taken as an id as it is)"
}

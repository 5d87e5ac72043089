package command

import (
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/snapshot"
)

func snapshotCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "save the etcd data the bindings read, for offline plans",
		Subcommands: []*cli.Command{{
			Name:  "save",
			Usage: "write every key the bindings read, at one revision, as JSON",
			UsageText: `reconfig snapshot save FILE [--include-sensitive]

The values that only sensitive bindings read are left out (plan --snapshot
then says those bindings were not rendered), unless --include-sensitive.

Example (review template changes in CI without etcd):
   reconfig snapshot save testdata/prod.json
   reconfig plan --snapshot testdata/prod.json --detailed-exitcode`,
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "include-sensitive", Usage: "also save the values that only sensitive bindings read (the file then holds secrets)"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return &usageError{msg: "snapshot save takes one file name", cmd: "snapshot save"}
				}
				return runSnapshotSave(c, env, c.Args().First(), c.Bool("include-sensitive"))
			},
		}},
	}
}

func runSnapshotSave(c *cli.Context, env *runEnv, file string, includeSensitive bool) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	cfg, err := engine.Load(g.cfgDir)
	if err != nil {
		return err
	}
	snap, err := env.readSnapshot(c.Context, g, cfg.Set, "", newLogger(g, env.io.Stderr))
	if err != nil {
		return err
	}
	var omitted []string
	if !includeSensitive {
		// What only sensitive bindings read stays out of a file that CI
		// jobs and repositories keep.
		var secret, plain []snapshot.Range
		for _, b := range cfg.Set.Bindings {
			for _, sel := range b.Selectors() {
				if b.Sensitive {
					secret = append(secret, sel.Ranges()...)
				} else {
					plain = append(plain, sel.Ranges()...)
				}
			}
		}
		snap.Omit(snapshot.Subtract(secret, plain))
		for _, b := range cfg.Set.Bindings {
			if slices.ContainsFunc(b.Selectors(), snap.Omits) {
				omitted = append(omitted, b.ID)
			}
		}
	}
	data, err := snap.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(file, data, atomicfile.Attrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	env.view().SnapshotSaved(file, snap, omitted)
	return nil
}

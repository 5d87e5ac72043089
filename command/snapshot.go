package command

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/atomicfile"
)

func snapshotCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "save the etcd data the bindings read, for offline plans",
		Subcommands: []*cli.Command{{
			Name:  "save",
			Usage: "write every key the bindings read, at one revision, as JSON",
			UsageText: `reconfig snapshot save FILE

Example (review template changes in CI without etcd):
   reconfig snapshot save testdata/prod.json
   reconfig plan --snapshot testdata/prod.json --detailed-exitcode`,
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return &usageError{msg: "snapshot save takes one file name", cmd: "snapshot save"}
				}
				return runSnapshotSave(c, env, c.Args().First())
			},
		}},
	}
}

func runSnapshotSave(c *cli.Context, env *runEnv, file string) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(g.cfgDir)
	if err != nil {
		return err
	}
	snap, err := env.readSnapshot(c.Context, g, cfg.set, "", newLogger(g, env.io.Stderr))
	if err != nil {
		return err
	}
	data, err := snap.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(file, data, atomicfile.Attrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	fmt.Fprintf(env.io.Stdout, "Saved %d keys at etcd revision %d to %s.\n", snap.Len(), snap.Revision, file)
	return nil
}

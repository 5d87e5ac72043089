package command

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/confdimport"
	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/view"
)

// importArgs are the arguments of import confd.
type importArgs struct {
	confDir string
	force   bool
	json    bool
}

func importCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "convert another tool's configuration into bindings",
		Subcommands: []*cli.Command{{
			Name:  "confd",
			Usage: "convert confd's template resources and templates into bindings",
			UsageText: `reconfig import confd CONFDIR [--cfgdir DIR] [--force] [--json]

Converts every template resource of CONFDIR/conf.d (*.toml) into a binding
in DIR/conf.d and copies the templates it names into DIR/templates: src,
dest, keys, prefix, mode, uid/gid, owner, check_cmd and reload_cmd. For each
resource it says what each field became and what needs a hand: template
functions reconfig does not have (datetime, lookupIP, ...), check_cmd
actions other than {{.src}}, prefixes that differ between resources.
A prefix shared by every resource (or confd.toml's) becomes --prefix.

Nothing is written when a resource cannot be read (TOML errors name the
file and line), or when a file to write exists already, unless --force.

Example:
   reconfig -c /etc/reconfig import confd /etc/confd
   reconfig -c /etc/reconfig plan`,
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Usage: "overwrite bindings and templates that exist in DIR"},
				&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return &usageError{msg: "import confd takes confd's directory, like /etc/confd", cmd: "import confd"}
				}
				return runImportConfd(c, env, importArgs{confDir: c.Args().First(), force: c.Bool("force"), json: c.Bool("json")})
			},
		}},
	}
}

func runImportConfd(c *cli.Context, env *runEnv, a importArgs) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	imp, err := confdimport.Convert(confdimport.Options{ConfDir: a.confDir, CfgDir: g.cfgDir, Force: a.force})
	if err != nil {
		msg := "nothing was written to " + g.cfgDir + "; fix what is named above and import again (--force overwrites files that exist)"
		var errs confdimport.Errors
		if errors.As(err, &errs) {
			return &importErrors{Errors: errs, hint: msg}
		}
		return hint.Wrap(err, msg)
	}
	if err := imp.Write(); err != nil {
		return err
	}
	var invalid error
	if _, err := engine.Load(g.cfgDir); err != nil {
		invalid = err
	}
	return view.NewConfdImport(env.view(), a.json).Imported(imp, invalid)
}

// importErrors are the problems that stopped an import, each listed, with
// a hint.
type importErrors struct {
	confdimport.Errors
	hint string
}

var _ hint.Hinter = (*importErrors)(nil)

func (e *importErrors) Hint() string { return e.hint }

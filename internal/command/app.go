package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/view"
)

// IO is where a command reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run runs reconfig with the command line args (args[0] is the program
// name) and returns its exit code.
func Run(ctx context.Context, args []string, stdio IO) int {
	return runWith(ctx, args, &runEnv{io: stdio})
}

func runWith(ctx context.Context, args []string, env *runEnv) int {
	env.args = args
	app := newApp(env)
	err := app.RunContext(ctx, reorderArgs(app, args))
	return env.finish(err)
}

// runEnv is what every command of one run shares.
type runEnv struct {
	io    IO
	args  []string    // the command line, for reconfig-dev
	dev   DevKit      // nil but in reconfig-dev
	style *view.Style // set once the color flags are parsed
}

// errStyle is the style for stderr messages.
func (e *runEnv) errStyle() *view.Style {
	if e.style != nil {
		return e.style
	}
	return view.NewStyle(false)
}

// finish prints err (if any) and turns it into an exit code.
func (e *runEnv) finish(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			view.Error(e.io.Stderr, e.errStyle(), ee.err)
		}
		return ee.code
	}
	view.Error(e.io.Stderr, e.errStyle(), err)
	return ExitError
}

func newApp(env *runEnv) *cli.App {
	app := &cli.App{
		Name:  "reconfig",
		Usage: "keep config files in step with etcd: plan, apply, watch",
		UsageText: `reconfig [global options] command [command options] [arguments...]
   reconfig [original options]   (no command: the original reconfig's daemon, i.e. watch)`,
		Description: `reconfig renders templates with data from etcd into config files, the way
Terraform applies infrastructure: plan shows colored diffs at one etcd
revision, apply writes them atomically, checks and reloads, and watch does it
continuously as etcd changes.

Examples:
   reconfig -c /etc/reconfig plan --detailed-exitcode
   reconfig -c /etc/reconfig apply
   reconfig -c /etc/reconfig watch --wait 2s:10s`,
		Version:              Version,
		HideVersion:          true,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		Reader:               env.io.Stdin,
		Writer:               env.io.Stdout,
		ErrWriter:            env.io.Stderr,
		Flags:                append(globalFlags(false), rootFlags()...),
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error()}
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(env.io.Stderr, "reconfig: error: unknown command %q\nhint: see reconfig --help\n", name)
		},
		Action: func(c *cli.Context) error { return rootAction(c, env) },
		Commands: []*cli.Command{
			planCommand(env),
			applyCommand(env),
			watchCommand(env),
			validateCommand(env),
			stateCommand(env),
			snapshotCommand(env),
			kvCommand(env),
			devCommand(env),
			completionCommand(env),
			manCommand(env),
			versionCommand(env),
		},
	}
	for _, c := range app.Commands {
		prepare(c)
	}
	return app
}

// prepare gives every command the global flags too (hidden), so that
// `reconfig plan --cfgdir X` works like `reconfig --cfgdir X plan`, and
// reports usage errors in reconfig's style.
func prepare(c *cli.Command) {
	c.Flags = append(c.Flags, globalFlags(true)...)
	name := c.Name
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return &usageError{msg: err.Error(), cmd: name}
	}
	for _, sub := range c.Subcommands {
		sub.Flags = append(sub.Flags, globalFlags(true)...)
		subName := name + " " + sub.Name
		sub.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error(), cmd: subName}
		}
	}
}

// rootAction runs when no command is given: the original reconfig's
// command lines (-n plans, -o applies once, nothing watches).
func rootAction(c *cli.Context, env *runEnv) error {
	if _, err := env.globals(c); err != nil {
		return err
	}
	if c.Bool("version") {
		return runVersion(c, env)
	}
	if c.Args().Present() {
		return &usageError{msg: fmt.Sprintf("unknown command %q", c.Args().First())}
	}
	switch {
	case c.Bool("notreally"):
		return runPlan(c, env, planArgs{})
	case c.Bool("onetime"):
		return runApply(c, env, applyArgs{autoApprove: true})
	}
	return runWatch(c, env, watchArgs{resync: 10 * time.Minute, progress: 5 * time.Second})
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// reorderArgs moves a command's flags in front of its positional
// arguments, so that `reconfig kv set KEY VALUE --ttl 5` parses (urfave/cli
// stops at the first positional argument).
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags before the command.
	i := skipFlags(app.Flags, rest)
	out = append(out, rest[:i]...)
	rest = rest[i:]
	cmds := app.Commands
	for len(rest) > 0 {
		var cmd *cli.Command
		for _, c := range cmds {
			if c.HasName(rest[0]) {
				cmd = c
			}
		}
		if cmd == nil {
			return append(out, rest...)
		}
		out = append(out, rest[0])
		rest = rest[1:]
		if len(cmd.Subcommands) > 0 {
			i := skipFlags(cmd.Flags, rest)
			out = append(out, rest[:i]...)
			rest = rest[i:]
			cmds = cmd.Subcommands
			continue
		}
		var flags, pos []string
		for j := 0; j < len(rest); j++ {
			a := rest[j]
			if a == "--" {
				pos = append(pos, rest[j:]...)
				break
			}
			if strings.HasPrefix(a, "-") && a != "-" {
				flags = append(flags, a)
				if takesValue(cmd.Flags, a) && j+1 < len(rest) {
					flags = append(flags, rest[j+1])
					j++
				}
				continue
			}
			pos = append(pos, a)
		}
		return append(append(out, flags...), pos...)
	}
	return out
}

// skipFlags counts the leading flag arguments (with their values).
func skipFlags(flags []cli.Flag, args []string) int {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" {
		if args[i] == "--" {
			return i
		}
		if takesValue(flags, args[i]) {
			i++
		}
		i++
	}
	return min(i, len(args))
}

// takesValue reports whether the flag argument a needs the next argument as
// its value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}

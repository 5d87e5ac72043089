package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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
	args, err := reorderArgs(app, args)
	if err == nil {
		noteGiven(app, args)
		err = app.RunContext(ctx, args)
	}
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

// view is where the command's output goes, in the style the flags chose
// (plain until they are parsed); a terminal shows diffs cut at
// view.DefaultDiffLines.
func (e *runEnv) view() *view.View {
	v := view.New(e.io.Stdout, e.io.Stderr, e.errStyle())
	if isTerminal(e.io.Stdout) {
		v.LimitDiffs(view.DefaultDiffLines)
	}
	return v
}

// finish shows err (if any) and turns it into an exit code.
func (e *runEnv) finish(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			e.view().Error(ee.err)
		}
		return ee.code
	}
	e.view().Error(err)
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
		// The help command is reconfig's own, so urfave/cli does not add
		// --help to the app: it is added here.
		Flags:          append(append(globalFlags(), rootFlags()...), cli.HelpFlag),
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error()}
		},
		CommandNotFound: func(c *cli.Context, name string) {
			env.view().Error(&usageError{msg: fmt.Sprintf("unknown command %q", name)})
		},
		Action: func(c *cli.Context) error { return rootAction(c, env) },
		Commands: []*cli.Command{
			planCommand(env),
			applyCommand(env),
			showCommand(env),
			watchCommand(env),
			validateCommand(env),
			importCommand(env),
			stateCommand(env),
			snapshotCommand(env),
			kvCommand(env),
			fleetCommand(env),
			devCommand(env),
			completionCommand(env),
			manCommand(env),
			versionCommand(env),
			helpCommand(env),
		},
	}
	for _, c := range app.Commands {
		prepare(c)
	}
	return app
}

// prepare makes every command and subcommand report a command line that
// does not parse in reconfig's style, with a hint naming its help.
func prepare(c *cli.Command) {
	name := c.Name
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return &usageError{msg: err.Error(), cmd: name}
	}
	if len(c.Subcommands) > 0 && c.Action == nil {
		// A group (kv, state, fleet, snapshot) shows its help when given
		// nothing, and refuses a subcommand it does not have.
		c.Action = func(ctx *cli.Context) error {
			if ctx.Args().Present() {
				return &usageError{msg: fmt.Sprintf("unknown command %q", name+" "+ctx.Args().First()), cmd: name}
			}
			return cli.ShowSubcommandHelp(ctx)
		}
	}
	for _, sub := range c.Subcommands {
		subName := name + " " + sub.Name
		sub.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error(), cmd: subName}
		}
	}
}

// helpCommand is `reconfig help [COMMAND [SUBCOMMAND]]`: the same help
// as --help gives.
func helpCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the help of reconfig or of one command",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Action: func(c *cli.Context) error {
			names := c.Args().Slice()
			cmds := newApp(env).Commands
			for i, name := range names {
				cmd := command(cmds, name)
				if cmd == nil {
					return &usageError{msg: fmt.Sprintf("unknown command %q", strings.Join(names[:i+1], " "))}
				}
				cmds = cmd.Subcommands
			}
			args := append(append([]string{"reconfig"}, names...), "--help")
			return newApp(env).RunContext(c.Context, args)
		},
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

// reorderArgs rearranges a command line for urfave/cli v2, which parses
// each command's flags with Go's flag package: parsing stops at the first
// positional argument, and a command's flag set holds only the flags
// declared on that command. So that every documented command line works,
// reorderArgs
//
//   - moves a global flag given after the command name in front of it, where
//     its one declaration on the app parses it (`reconfig plan --cfgdir X`,
//     `reconfig dev --data F -c cfg`); given both before and after, the
//     one after wins, being parsed last;
//   - moves the other flags after a command's positional arguments in front
//     of them (`reconfig apply PLANFILE --auto-approve`,
//     `reconfig kv set KEY VALUE --ttl 5`, `reconfig kv get / -r`).
//
// A flag it does not know stays with the command, whose parser reports it;
// a global flag missing its value is reported here, as moved it would take
// the command's name for its value. A negative number is a value, not a
// flag. "--" ends the flags: what follows is positional, even "-x", and
// the positional arguments follow a "--" of their own whenever the first
// of them starts with "-". A completion request is left as it is.
func reorderArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args, nil
	}
	global := globalFlags()
	// front: the app's flags; path: the command names, each followed by its
	// flags; pos: the positional arguments.
	var front, path, pos []string
	dashes := false // pos needs a "--" in front
	cmds, flags := app.Commands, app.Flags
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			dashes = true
			i = len(args)
		case isFlag(a) && !isNegativeNumber(a):
			f, forApp := lookupFlag(flags, a), len(path) == 0
			if f == nil && !forApp {
				f = lookupFlag(global, a)
				forApp = f != nil
			}
			arg := args[i : i+1]
			switch {
			case takesValue(f, a) && i+1 < len(args):
				arg = args[i : i+2]
				i++
			case takesValue(f, a) && forApp:
				return nil, &usageError{msg: "flag needs an argument: " + a}
			}
			if forApp {
				front = append(front, arg...)
			} else {
				path = append(path, arg...)
			}
		case len(pos) == 0 && command(cmds, a) != nil:
			cmd := command(cmds, a)
			path = append(path, a)
			cmds, flags = cmd.Subcommands, cmd.Flags
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) > 0 && isFlag(pos[0]) {
		dashes = true
	}
	out := append([]string{args[0]}, front...)
	out = append(out, path...)
	if dashes {
		out = append(out, "--")
	}
	return append(out, pos...), nil
}

func isFlag(a string) bool { return strings.HasPrefix(a, "-") && a != "-" }

// isNegativeNumber reports whether a is a number like -1 or -0.5: a
// value (`kv set /x -1`), as no flag of reconfig's starts with a digit.
func isNegativeNumber(a string) bool {
	if len(a) < 2 || a[0] != '-' || !strings.ContainsRune("0123456789.", rune(a[1])) {
		return false
	}
	_, err := strconv.ParseFloat(a, 64)
	return err == nil
}

func command(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// lookupFlag returns the flag that the argument a (-x, --name, --name=v)
// names, or nil.
func lookupFlag(flags []cli.Flag, a string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// takesValue reports whether the flag argument a, of flag f, needs the
// next argument as its value.
func takesValue(f cli.Flag, a string) bool {
	if f == nil || strings.Contains(a, "=") {
		return false
	}
	_, isBool := f.(*cli.BoolFlag)
	return !isBool
}

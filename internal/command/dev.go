package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/view"
)

// DevKit is what `reconfig dev` needs that the daemon does not: an etcd
// server to start and the demo. Only the reconfig-dev binary links one in
// (internal/devkit); reconfig itself runs reconfig-dev for `dev`, so that
// the daemon's binary carries no etcd server and no demo.
type DevKit interface {
	// StartEtcd starts a single-member etcd on loopback and waits until it
	// serves.
	StartEtcd(o DevEtcdOptions) (DevEtcd, error)
	// DemoData is the demo's data: a JSON object of key → value.
	DemoData() ([]byte, error)
	// WriteDemo writes the demo's bindings and templates into cfgDir, with
	// their targets under out.
	WriteDemo(cfgDir, out string) error
}

// DevEtcdOptions configure dev's etcd.
type DevEtcdOptions struct {
	// Dir is the data directory.
	Dir string
	// ClientURL is where it listens for clients, like
	// "http://127.0.0.1:2379"; "" picks a free loopback port.
	ClientURL string
	// Debug sends the server's logs to stderr; otherwise they are
	// discarded.
	Debug bool
}

// DevEtcd is dev's running etcd.
type DevEtcd interface {
	ClientURL() string
	// Load puts every key → value of data.
	Load(ctx context.Context, data map[string]string) error
	Close()
}

// DevBinary is the program that runs `reconfig dev`: reconfig with an
// etcd server and the demo built in.
const DevBinary = "reconfig-dev"

// devParentEnv is set in reconfig-dev's environment by the reconfig that
// runs it: a reconfig-dev without a DevKit (a copy of reconfig under that
// name) must not run itself again, and again.
const devParentEnv = "RECONFIG_DEV_PARENT"

// RunDev is Run for the reconfig-dev binary: `dev` starts kit's etcd in
// this process.
func RunDev(ctx context.Context, args []string, stdio IO, kit DevKit) int {
	return runWith(ctx, args, &runEnv{io: stdio, dev: kit})
}

type devArgs struct {
	data        string
	listen      string
	wait        string
	dir         string
	runCommands bool
}

func devCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "try reconfig locally: an embedded etcd with demo data, watched live",
		UsageText: `reconfig dev [--data FILE] [--cfgdir DIR] [--listen ADDR] [--dir DIR] [--run-commands]

Starts an etcd on loopback (a free port unless --listen), in a temporary
directory removed on exit (or --dir, kept), loads --data (a JSON object of
key → value; default: the demo's haproxy backends), prints the endpoint, and
runs watch against it. Without --cfgdir it uses the demo bindings. dev never
touches a real target or the real state: with --cfgdir, every target is
written under DIR/targets/ (its own path below that), the state is
DIR/state.json, and check and reload commands are shown, not run, unless
--run-commands. Ctrl-C stops both.

The etcd server and the demo are in reconfig-dev, a second program that
dev runs (beside reconfig, or on PATH), so that the daemon carries neither.

Example:
   reconfig dev
   # in another terminal, with the endpoint it printed:
   reconfig --endpoints http://127.0.0.1:PORT kv set /services/web/web-3 10.0.0.13:8080`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "seed etcd from `FILE`, a JSON object of key → value"},
			&cli.StringFlag{Name: "listen", Usage: "client `ADDR` of the embedded etcd, like 127.0.0.1:2379"},
			&cli.StringFlag{Name: "wait", Usage: "quiescence of the watch, `MIN[:MAX]`"},
			&cli.StringFlag{Name: "dir", Usage: "keep etcd's data, the targets and the state in `DIR` (kept on exit) instead of a temporary directory"},
			&cli.BoolFlag{Name: "run-commands", Usage: "run the bindings' check and reload commands for real (a reload command acts on this host's services)"},
		},
		Action: func(c *cli.Context) error {
			if env.dev == nil {
				return runDevBinary(c, env)
			}
			return runDev(c, env, devArgs{data: c.String("data"), listen: c.String("listen"), wait: c.String("wait"),
				dir: c.String("dir"), runCommands: c.Bool("run-commands")})
		},
	}
}

func runDev(c *cli.Context, env *runEnv, a devArgs) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	var data map[string]string
	raw, err := readDevData(env.dev, a.data)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		return hint.Wrap(fmt.Errorf("--data %s: not a JSON object of key → value: %v", a.data, err), `write it like {"/services/web/web-1": "10.0.0.11:8080"}`)
	}
	for k := range data {
		if !strings.HasPrefix(k, "/") {
			return fmt.Errorf("--data %s: key %q must start with \"/\"", a.data, k)
		}
	}
	// Ctrl-C at a terminal reaches reconfig-dev twice, from the terminal
	// and passed on by reconfig, and may be pressed again: once dev is
	// stopping, no interrupt may kill it before etcd is closed and its
	// directory removed. Deferred first, this is undone last.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupted)
	tmp := a.dir
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", "reconfig-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
	} else if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	if tmp, err = filepath.Abs(tmp); err != nil {
		return err
	}

	// dev never writes the real state, never touches a real target and,
	// unless asked, runs no command of an operator's bindings.
	cfgSet := c.IsSet("cfgdir")
	g.statePath = filepath.Join(tmp, "state.json")
	wa := watchArgs{wait: a.wait, resync: 10 * time.Minute, progress: 5 * time.Second}
	targets := filepath.Join(tmp, "targets")
	if !cfgSet {
		g.cfgDir = filepath.Join(tmp, "cfg")
		if err := env.dev.WriteDemo(g.cfgDir, filepath.Join(tmp, "out")); err != nil {
			return err
		}
	} else {
		wa.rewrite = func(set *bindings.Set) {
			for _, b := range set.Bindings {
				b.Target = filepath.Join(targets, b.Target)
			}
		}
		wa.showCommands = !a.runCommands
	}
	opts := DevEtcdOptions{Dir: filepath.Join(tmp, "etcd"), Debug: g.debug}
	if a.listen != "" {
		opts.ClientURL = "http://" + a.listen
	}
	srv, err := env.dev.StartEtcd(opts)
	if err != nil {
		return hint.Wrap(err, "pick another --listen address, or leave it out for a free port")
	}
	defer srv.Close()
	if err := srv.Load(c.Context, data); err != nil {
		return fmt.Errorf("load --data: %w", err)
	}
	g.endpoints = []string{srv.ClientURL()}
	g.prefix = ""

	env.view().DevStarted(view.DevSession{
		Endpoint: srv.ClientURL(), Keys: len(data), DataDir: opts.Dir, Kept: a.dir != "",
		Dir: tmp, CfgDir: g.cfgDir, StatePath: g.statePath,
		Demo: !cfgSet, Targets: targets, RunCommands: a.runCommands,
	})

	select {
	case <-interrupted:
		// Stopped while etcd started: there is nothing to watch for.
		return nil
	default:
	}
	return runWatchWith(c, env, g, wa)
}

// maxDevData is the largest --data file: a JSON object of keys and values
// for a development etcd, which takes requests of at most 1.5 MiB each.
const maxDevData = 64 << 20

func readDevData(kit DevKit, path string) ([]byte, error) {
	if path == "" {
		return kit.DemoData()
	}
	return readOperatorFile("--data", path, maxDevData)
}

// runDevBinary runs `reconfig dev` in reconfig-dev, found beside this
// program and then on PATH, with this command line, stdin, stdout and
// stderr, and passes it the signals that stop or reload dev's watch. Its
// exit code is dev's; it printed its own errors.
func runDevBinary(c *cli.Context, env *runEnv) error {
	self, _ := os.Executable()
	if os.Getenv(devParentEnv) != "" {
		return hint.Wrap(fmt.Errorf("%s has no etcd server built in: it is not %s", self, DevBinary),
			fmt.Sprintf("put the %s of reconfig's release (or `make build`'s bin/%s) in its place", DevBinary, DevBinary))
	}
	path, err := findDevBinary()
	if err != nil {
		return err
	}
	cmd := exec.Command(path, env.args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.io.Stdin, env.io.Stdout, env.io.Stderr
	cmd.Env = append(os.Environ(), devParentEnv+"="+self)
	cmd.SysProcAttr = devProcAttr()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", path, err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			return exit(code)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Killed by a signal: exit as the shell reports it; dev said
			// what it had to say itself.
			return exit(128 + int(ws.Signal()))
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// findDevBinary finds reconfig-dev beside this program (for a program
// named like the release's reconfig-linux-amd64, also reconfig-dev-linux-amd64),
// then on PATH.
func findDevBinary() (string, error) {
	self, err := os.Executable()
	if err == nil {
		dir, base := filepath.Split(self)
		names := []string{DevBinary}
		if rest, ok := strings.CutPrefix(base, "reconfig-"); ok {
			names = append(names, DevBinary+"-"+rest)
		}
		for _, name := range names {
			beside := filepath.Join(dir, name)
			if info, err := os.Stat(beside); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
				return beside, nil
			}
		}
	}
	if path, err := exec.LookPath(DevBinary); err == nil {
		return path, nil
	}
	where := "on PATH"
	if self != "" {
		where = fmt.Sprintf("beside %s or on PATH", self)
	}
	return "", hint.Wrap(fmt.Errorf("reconfig dev runs in %s, which is not %s", DevBinary, where),
		fmt.Sprintf("install %s from reconfig's release beside reconfig, or build it: make build (bin/%s) or go build -o DIR/%s ./cmd/%s",
			DevBinary, DevBinary, DevBinary, DevBinary))
}

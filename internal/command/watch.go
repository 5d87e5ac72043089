package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/supervise"
	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/internal/watch"
)

type watchArgs struct {
	wait        string
	metricsAddr string
	resync      time.Duration
	force       bool
	// progress tunes the stream liveness check (hidden; for tests).
	progress time.Duration
	// rewrite changes the bindings after they are loaded (dev: targets
	// under its own directory); showCommands shows check and reload
	// commands instead of running them.
	rewrite      func(*bindings.Set)
	showCommands bool
	// fleet makes the daemon a member of a fleet (nil: not).
	fleet *watch.FleetOptions
	// exec is the program to run and tell of changes (nil: none).
	exec *execArgs
}

func watchCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "the daemon: apply, then apply again on every change in etcd",
		UsageText: `reconfig watch [--wait MIN[:MAX]] [--metrics-addr ADDR] [--resync INTERVAL]
               [--fleet [--name NAME] [--group GROUP] [--fleet-prefix PREFIX]
                        [--follow GROUP [--follow-min N] [--bake D]]]
               [--exec "CMD ARGS" [--exec-reload-signal SIGNAL] [--exec-kill-timeout D]]

Takes a snapshot, applies every binding, then follows the etcd watch stream
and re-applies the bindings that read each changed key. SIGHUP re-reads the
bindings and templates; SIGINT and SIGTERM finish the cycle in flight and
exit 0. Failures are logged and retried; they never stop the daemon.

With --fleet the daemon reports what it applied under
PREFIX/hosts/NAME, on a lease of --fleet-ttl, obeys the fleet's hold and
answers barriers (reconfig fleet status|wait|hold|release).

With --exec reconfig runs a program, as a container's entrypoint: it starts
it once every binding has rendered (a binding that fails or has no data
holds the start back), then on each cycle that changed a target sends it
--exec-reload-signal, or without one restarts it (SIGTERM, then SIGKILL
after --exec-kill-timeout). SIGTERM and SIGINT are passed on to the
program; SIGHUP still reloads reconfig's own configuration. When the
program exits, reconfig exits with its status (128+N if signal N killed
it). The command line runs under /bin/sh -c, as check and reload commands
do, with exec put before the program so that it gets the signals itself;
it must be one program (no ;, &&, | or newlines).

Examples:
   reconfig watch
   reconfig watch --wait 2s:10s --metrics-addr 127.0.0.1:9333
   reconfig watch --fleet --group lb
   reconfig watch --fleet --group lb --follow canary --bake 60s
   reconfig watch --exec "nginx -g 'daemon off;'" --exec-reload-signal HUP`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "wait", Usage: "apply after `MIN[:MAX]` without changes (MAX defaults to 4×MIN), e.g. 500ms:5s", EnvVars: envs("wait")},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics and /healthz on `ADDR`", EnvVars: envs("metrics-addr")},
			&cli.DurationFlag{Name: "resync", Usage: "re-read everything and re-apply every `DURATION`, retrying failures", Value: 10 * time.Minute, EnvVars: envs("resync")},
			&cli.BoolFlag{Name: "force", Usage: "use a state file recorded for another etcd cluster"},
			&cli.DurationFlag{Name: "progress-interval", Hidden: true, Value: 5 * time.Second},
			&cli.BoolFlag{Name: "fleet", Usage: "report to the fleet (reconfig fleet status) and obey its hold", EnvVars: envs("fleet")},
			&cli.StringFlag{Name: "name", Usage: "the host's `NAME` in the fleet (default: the host name)", EnvVars: envs("name")},
			&cli.StringFlag{Name: "group", Usage: "the host's `GROUP` in the fleet", Value: "default", EnvVars: envs("group")},
			fleetPrefixFlag(),
			&cli.DurationFlag{Name: "fleet-ttl", Usage: "a dead host leaves the fleet within this `TTL` (whole seconds)", Value: fleet.DefaultTTL, EnvVars: envs("fleet-ttl")},
			&cli.StringFlag{Name: "follow", Usage: "apply a revision only once the hosts of `GROUP` applied it and stayed healthy (canary rollouts)", EnvVars: envs("follow")},
			&cli.IntFlag{Name: "follow-min", Usage: "with --follow: at least `N` hosts of the group must vouch", Value: 1, EnvVars: envs("follow-min")},
			&cli.DurationFlag{Name: "bake", Usage: "with --follow: for at least `D`", EnvVars: envs("bake")},
		}, execFlags()...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &usageError{msg: "watch takes no arguments", cmd: "watch"}
			}
			fl, err := fleetMember(c)
			if err != nil {
				return err
			}
			ex, err := readExec(c)
			if err != nil {
				return err
			}
			return runWatch(c, env, watchArgs{
				wait: c.String("wait"), metricsAddr: c.String("metrics-addr"), resync: c.Duration("resync"),
				force: c.Bool("force"), progress: c.Duration("progress-interval"), fleet: fl, exec: ex,
			})
		},
	}
}

// fleetMember reads --fleet and its flags (nil without --fleet).
func fleetMember(c *cli.Context) (*watch.FleetOptions, error) {
	if !c.Bool("fleet") {
		for _, f := range []string{"name", "group", "fleet-prefix", "fleet-ttl", "follow", "follow-min", "bake"} {
			if c.IsSet(f) && os.Getenv(envs(f)[0]) == "" {
				return nil, &usageError{msg: "--" + f + " needs --fleet", cmd: "watch"}
			}
		}
		return nil, nil
	}
	name := c.String("name")
	if !c.IsSet("name") {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--fleet: cannot read the host name (give --name): %w", err)
		}
		name = host
	}
	for flag, v := range map[string]string{"name": name, "group": c.String("group")} {
		if err := fleet.CheckName(flag, v); err != nil {
			return nil, &usageError{msg: err.Error(), cmd: "watch"}
		}
	}
	ttl := c.Duration("fleet-ttl")
	if ttl < 2*time.Second || ttl%time.Second != 0 {
		return nil, &usageError{msg: fmt.Sprintf("--fleet-ttl %s: must be whole seconds, at least 2s", ttl), cmd: "watch"}
	}
	keys, err := fleetKeys(c, "watch")
	if err != nil {
		return nil, err
	}
	o := &watch.FleetOptions{Keys: keys, Name: name, Group: c.String("group"), TTL: ttl, Version: Version}
	if follow := c.String("follow"); follow != "" {
		if err := fleet.CheckName("follow", follow); err != nil {
			return nil, &usageError{msg: err.Error(), cmd: "watch"}
		}
		switch {
		case follow == o.Group:
			return nil, &usageError{msg: fmt.Sprintf("--follow %s: the host's own group; followers and the group they follow must differ", follow), cmd: "watch"}
		case c.Int("follow-min") < 1:
			return nil, &usageError{msg: "--follow-min must be at least 1", cmd: "watch"}
		case c.Duration("bake") < 0:
			return nil, &usageError{msg: "--bake must not be negative", cmd: "watch"}
		}
		o.Follow = &watch.FollowOptions{Group: follow, Min: c.Int("follow-min"), Bake: c.Duration("bake")}
	} else {
		for _, f := range []string{"follow-min", "bake"} {
			if c.IsSet(f) && os.Getenv(envs(f)[0]) == "" {
				return nil, &usageError{msg: "--" + f + " needs --follow", cmd: "watch"}
			}
		}
	}
	return o, nil
}

// parseWait reads --wait MIN[:MAX].
func parseWait(s string) (lo, hi time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, two := strings.Cut(s, ":")
	if lo, err = time.ParseDuration(a); err != nil || lo < 0 {
		return 0, 0, fmt.Errorf("--wait %q: MIN is not a duration", s)
	}
	if two {
		if hi, err = time.ParseDuration(b); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("--wait %q: MAX must be a duration not below MIN", s)
		}
	} else {
		hi = 4 * lo
	}
	return lo, hi, nil
}

func runWatch(c *cli.Context, env *runEnv, a watchArgs) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	return runWatchWith(c, env, g, a)
}

func runWatchWith(c *cli.Context, env *runEnv, g *globals, a watchArgs) error {
	lo, hi, err := parseWait(a.wait)
	if err != nil {
		return &usageError{msg: err.Error(), cmd: "watch"}
	}
	if a.resync <= 0 {
		return &usageError{msg: "--resync must be positive", cmd: "watch"}
	}
	log := newLogger(g, env.io.Stderr)
	if os.Getenv("GOGC") == "" {
		// The daemon idles on every host of a fleet: collect garbage at
		// half the default growth, a little CPU in bursts for a smaller
		// resident size (BENCHMARKS.md).
		debug.SetGCPercent(50)
	}
	var gate *execGate // with --exec, once the daemon runs
	load := func() (*engine.Config, error) {
		cfg, err := engine.Load(g.cfgDir)
		if err == nil && a.rewrite != nil {
			a.rewrite(cfg.Set)
		}
		if err == nil && gate != nil {
			gate.loaded(cfg.Set)
		}
		return cfg, err
	}
	// Bad bindings or TLS files are errors at start, not retried forever.
	if _, err := load(); err != nil {
		return err
	}
	if _, err := tlsConfig(g, g.endpoints); err != nil {
		return err
	}
	if g.user != "" && g.password == "" {
		pw, asked, err := askPassword(env.io.Stdin, env.io.Stderr, g.user)
		if err != nil {
			return err
		}
		g.password, g.askedPassword = pw, asked
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	var sup *supervise.Supervisor
	if a.exec != nil {
		if sup, err = supervisor(ctx, cancel, env, a.exec, log); err != nil {
			return err
		}
		gate = newExecGate(sup, log)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	reload := make(chan struct{}, 1)
	go relaySignals(ctx, cancel, sigs, reload, sup, log)

	var metrics *watch.Metrics
	if a.metricsAddr != "" {
		metrics = watch.NewMetrics()
		stop, err := serveMetrics(a.metricsAddr, metrics, g.debug)
		if err != nil {
			return err
		}
		defer stop()
		log.Info("serving metrics", "addr", a.metricsAddr)
	}

	var onCycle func(watch.Cycle)
	if gate != nil {
		onCycle = gate.cycle
	}
	err = watch.Run(ctx, watch.Options{
		Load:             load,
		Connect:          func(ctx context.Context) (*etcd.Client, error) { return connect(ctx, g) },
		StatePath:        g.statePath,
		Force:            a.force,
		WaitMin:          lo,
		WaitMax:          hi,
		Resync:           a.resync,
		ProgressInterval: a.progress,
		ProgressTimeout:  a.progress,
		Reload:           reload,
		ShowCommands:     a.showCommands,
		Logger:           log,
		Metrics:          metrics,
		Fleet:            a.fleet,
		OnCycle:          onCycle,
	})
	if sup == nil {
		return err
	}
	// The daemon ended first (an error, or its caller's context): the
	// program goes too.
	sup.Stop(syscall.SIGTERM)
	<-sup.Done()
	switch {
	case err != nil:
		return err
	case sup.Err() != nil:
		return sup.Err()
	case sup.Code() != ExitOK:
		return exit(sup.Code())
	}
	return nil
}

// relaySignals acts on the daemon's signals until ctx ends: SIGHUP asks
// for the configuration to be loaded again (on reload); SIGINT and
// SIGTERM stop the daemon once its cycle in flight is done, or, once a
// program of --exec runs, go to the program, whose end stops the daemon.
func relaySignals(ctx context.Context, stop context.CancelFunc, sigs <-chan os.Signal, reload chan<- struct{}, sup *supervise.Supervisor, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sigs:
			if s == syscall.SIGHUP {
				log.Info("SIGHUP: reloading the configuration")
				select {
				case reload <- struct{}{}:
				default:
				}
				continue
			}
			if sup != nil && sup.Started() {
				// The program decides when it is done.
				sup.Stop(s)
				continue
			}
			log.Info("stopping: finishing the cycle in flight", "signal", s.String())
			if sup != nil {
				sup.Stop(s)
			}
			stop()
		}
	}
}

// serveMetrics serves /metrics and /healthz (and with --debug the Go
// profiles under /debug/pprof/) until stop is called.
func serveMetrics(addr string, m *watch.Metrics, profiles bool) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("--metrics-addr %s: %w", addr, errors.Unwrap(err)), "pick a free address, like 127.0.0.1:9333")
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, reason := m.Health()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		view.Health(w, reason)
	})
	if profiles {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

package command

import (
	"context"
	"errors"
	"fmt"
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
}

func watchCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "the daemon: apply, then apply again on every change in etcd",
		UsageText: `reconfig watch [--wait MIN[:MAX]] [--metrics-addr ADDR] [--resync INTERVAL]
               [--fleet [--name NAME] [--group GROUP] [--fleet-prefix PREFIX]]

Takes a snapshot, applies every binding, then follows the etcd watch stream
and re-applies the bindings that read each changed key. SIGHUP re-reads the
bindings and templates; SIGINT and SIGTERM finish the cycle in flight and
exit 0. Failures are logged and retried; they never stop the daemon.

With --fleet the daemon reports what it applied under
PREFIX/hosts/NAME, on a lease of --fleet-ttl, obeys the fleet's hold and
answers barriers (reconfig fleet status|wait|hold|release).

Examples:
   reconfig watch
   reconfig watch --wait 2s:10s --metrics-addr 127.0.0.1:9333
   reconfig watch --fleet --group lb`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "wait", Usage: "apply after `MIN[:MAX]` without changes (MAX defaults to 4×MIN), e.g. 500ms:5s", EnvVars: envs("wait")},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics and /healthz on `ADDR`", EnvVars: envs("metrics-addr")},
			&cli.DurationFlag{Name: "resync", Usage: "re-read everything and re-apply this often, retrying failures", Value: 10 * time.Minute, EnvVars: envs("resync")},
			&cli.BoolFlag{Name: "force", Usage: "use a state file recorded for another etcd cluster"},
			&cli.DurationFlag{Name: "progress-interval", Hidden: true, Value: 5 * time.Second},
			&cli.BoolFlag{Name: "fleet", Usage: "report to the fleet (reconfig fleet status) and obey its hold", EnvVars: envs("fleet")},
			&cli.StringFlag{Name: "name", Usage: "the host's `NAME` in the fleet (default: the host name)", EnvVars: envs("name")},
			&cli.StringFlag{Name: "group", Usage: "the host's `GROUP` in the fleet", Value: "default", EnvVars: envs("group")},
			fleetPrefixFlag(),
			&cli.DurationFlag{Name: "fleet-ttl", Usage: "a dead host leaves the fleet within this `TTL` (whole seconds)", Value: fleet.DefaultTTL, EnvVars: envs("fleet-ttl")},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &usageError{msg: "watch takes no arguments", cmd: "watch"}
			}
			fl, err := fleetMember(c)
			if err != nil {
				return err
			}
			return runWatch(c, env, watchArgs{
				wait: c.String("wait"), metricsAddr: c.String("metrics-addr"), resync: c.Duration("resync"),
				force: c.Bool("force"), progress: c.Duration("progress-interval"), fleet: fl,
			})
		},
	}
}

// fleetMember reads --fleet and its flags (nil without --fleet).
func fleetMember(c *cli.Context) (*watch.FleetOptions, error) {
	if !c.Bool("fleet") {
		for _, f := range []string{"name", "group", "fleet-prefix", "fleet-ttl"} {
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
	return &watch.FleetOptions{Keys: fleet.NewKeys(c.String("fleet-prefix")), Name: name, Group: c.String("group"),
		TTL: ttl, Version: Version}, nil
}

// fleetPrefixFlag is --fleet-prefix, the same for watch and fleet.
func fleetPrefixFlag() cli.Flag {
	return &cli.StringFlag{Name: "fleet-prefix", Usage: "the fleet's keys live under `PREFIX` (itself under --prefix)",
		Value: fleet.DefaultPrefix, EnvVars: envs("fleet-prefix")}
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
	load := func() (*engine.Config, error) {
		cfg, err := engine.Load(g.cfgDir)
		if err == nil && a.rewrite != nil {
			a.rewrite(cfg.Set)
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
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	reload := make(chan struct{}, 1)
	go func() {
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
				log.Info("stopping: finishing the cycle in flight", "signal", s.String())
				cancel()
			}
		}
	}()

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

	return watch.Run(ctx, watch.Options{
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
	})
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

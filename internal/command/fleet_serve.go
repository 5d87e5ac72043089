package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/fleetpage"
	"github.com/reconfig/reconfig/internal/hint"
)

// defaultPageAddr is where `fleet serve` listens unless told: loopback.
const defaultPageAddr = "127.0.0.1:8080"

type fleetServeArgs struct {
	keys   fleet.Keys
	group  string
	listen string
	// sampleEvery is the history's period (hidden; for tests).
	sampleEvery time.Duration
}

func fleetServeCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve a live, read-only page of the fleet and its JSON API",
		UsageText: `reconfig fleet serve [--listen 127.0.0.1:8080] [--group G]

Reads the fleet prefix once and follows it on one watch: a page open for
an hour costs etcd nothing per second, and the page writes nothing (no
barrier: hosts are judged against the newest barrier that fleet status or
fleet wait wrote). Routes:
   /            the page, live through server-sent events
   /api/fleet   the document of fleet status --json
   /healthz     200 while the page's watch of etcd is established, 503 otherwise

It listens on loopback unless --listen names another address; the page has
no authentication of its own: put it behind a proxy that has some.

Examples:
   reconfig fleet serve
   reconfig fleet serve --group lb --listen 127.0.0.1:9090
   curl -s localhost:8080/api/fleet | jq .summary`,
		Flags: []cli.Flag{fleetPrefixFlag(),
			&cli.StringFlag{Name: "group", Usage: "only the hosts of `GROUP` (watch --group)"},
			// No environment variable: an address beyond loopback is only
			// ever spelled out on the command line.
			&cli.StringFlag{Name: "listen", Value: defaultPageAddr, Usage: "serve on `ADDR` (host:port; anything but loopback must be put behind an authenticating proxy)"},
			&cli.DurationFlag{Name: "sample-every", Hidden: true, Value: 5 * time.Second}},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &usageError{msg: fmt.Sprintf("fleet serve takes no arguments (got %q)", c.Args().First()), cmd: "fleet serve"}
			}
			keys, err := fleetKeys(c, "fleet serve")
			if err != nil {
				return err
			}
			g, err := fleetGroup(c, "fleet serve")
			if err != nil {
				return err
			}
			if _, _, err := net.SplitHostPort(c.String("listen")); err != nil {
				return &usageError{msg: fmt.Sprintf("--listen %q: want host:port, like %s", c.String("listen"), defaultPageAddr), cmd: "fleet serve"}
			}
			return runFleetServe(c, env, fleetServeArgs{keys: keys, group: g, listen: c.String("listen"), sampleEvery: c.Duration("sample-every")})
		},
	}
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runFleetServe(c *cli.Context, env *runEnv, a fleetServeArgs) error {
	g, cli, err := env.dial(c)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	page := fleetpage.New(fleetpage.Options{Client: cli, Keys: a.keys, Group: a.group, SampleEvery: a.sampleEvery, Logger: newLogger(g, env.io.Stderr)})
	if err := page.Open(ctx); err != nil {
		if errors.Is(err, etcd.ErrPermissionDenied) {
			full := strings.TrimSuffix(g.prefix, "/") + a.keys.All()
			return hint.Wrap(err, fmt.Sprintf("the page needs read access to %s: etcdctl role grant-permission ROLE read --prefix %s", full, full))
		}
		return err
	}
	l, err := net.Listen("tcp", a.listen)
	if err != nil {
		return hint.Wrap(fmt.Errorf("--listen %s: %w", a.listen, errors.Unwrap(err)), "pick a free address, like 127.0.0.1:8081")
	}
	srv := &http.Server{Handler: page.Handler(), ReadHeaderTimeout: 5 * time.Second}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	pageDone := make(chan struct{})
	go func() { page.Run(runCtx); close(pageDone) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	env.view().FleetPageServing("http://"+l.Addr().String()+"/", a.keys.Prefix(), a.group, !loopback(a.listen))

	select {
	case <-ctx.Done():
		err = nil
	case err = <-served:
	}
	// Ending the page ends its event streams, which lets Shutdown finish.
	cancel()
	<-pageDone
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

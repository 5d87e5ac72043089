package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/grpclog"
	"io"

	"github.com/reconfig/reconfig/internal/hint"
)

func init() {
	// gRPC logs connection trouble to stderr by default; reconfig reports
	// it in its own words instead.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
}

// Config says how to reach etcd.
type Config struct {
	Endpoints      []string
	DialTimeout    time.Duration
	CommandTimeout time.Duration
	// Prefix namespaces every key: reads and watches happen under it and
	// keys are returned without it.
	Prefix   string
	TLS      *tls.Config
	Username string
	Password string
}

// Client is a connection to an etcd cluster.
type Client struct {
	cfg     Config
	cli     *clientv3.Client
	kv      clientv3.KV
	watcher clientv3.Watcher
	lease   clientv3.Lease
}

// Connect dials etcd and waits, up to the dial timeout, until a connection
// is ready, so an unreachable cluster is reported at once and not as a
// timeout of the first request.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	if len(cfg.Endpoints) == 0 {
		return nil, hint.Wrap(&Error{Msg: "no etcd endpoint given"}, "pass --endpoints http://HOST:2379")
	}
	c := &Client{cfg: cfg}
	// reconfig keeps the auth token itself (tokenAuth), not the client.
	var auth *tokenAuth
	var dialOpts []grpc.DialOption
	if cfg.Username != "" && cfg.Password != "" {
		auth = newTokenAuth(cfg.Username, cfg.Password)
		dialOpts = auth.dialOptions()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		PermitWithoutStream:  true,
		TLS:                  cfg.TLS,
		DialOptions:          dialOpts,
		Logger:               zap.NewNop(),
		Context:              ctx,
	})
	if err != nil {
		return nil, c.connectError(err)
	}
	c.cli = cli
	if err := c.waitReady(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	if auth != nil {
		actx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		err := auth.refresh(actx, cli.ActiveConnection(), "")
		cancel()
		if err != nil {
			cli.Close()
			return nil, c.connectError(clientv3.ContextError(actx, err))
		}
	}
	c.kv, c.watcher, c.lease = cli.KV, cli.Watcher, cli.Lease
	if cfg.Prefix != "" {
		c.kv = namespace.NewKV(cli.KV, cfg.Prefix)
		c.watcher = namespace.NewWatcher(cli.Watcher, cfg.Prefix)
		c.lease = namespace.NewLease(cli.Lease, cfg.Prefix)
	}
	return c, nil
}

func (c *Client) waitReady(ctx context.Context) error {
	conn := c.cli.ActiveConnection()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		// Canceled (SIGINT while connecting) is said as such, even when
		// the endpoints refused before the cancel was seen.
		if errors.Is(ctx.Err(), context.Canceled) {
			return &Error{Msg: "connect: canceled", Err: ctx.Err()}
		}
		if s == connectivity.Idle {
			conn.Connect()
		}
		// Every endpoint refusing the connection will not change within
		// the dial timeout: say so now.
		if s == connectivity.TransientFailure && allRefuse(c.cfg.Endpoints, c.cfg.DialTimeout) {
			return c.unreachable()
		}
		if !conn.WaitForStateChange(ctx, s) && !errors.Is(ctx.Err(), context.Canceled) {
			return c.unreachable()
		}
	}
}

func (c *Client) unreachable() error {
	eps := strings.Join(c.cfg.Endpoints, ",")
	msg := fmt.Sprintf("cannot reach etcd at %s within %s", eps, c.cfg.DialTimeout)
	advice := unreachableHint
	if why, trouble := probe(c.cfg.Endpoints, c.cfg.DialTimeout, c.cfg.TLS); why != "" {
		msg = fmt.Sprintf("cannot reach etcd at %s: %s", eps, why)
		switch trouble {
		case troubleTLS:
			advice = tlsHint
		case troublePlainHTTP:
			advice = plainHTTPHint
		case troubleNotEtcd:
			msg = why
			advice = notEtcdHint
		}
	} else if c.cfg.TLS == nil && anyHTTPS(c.cfg.Endpoints) {
		msg += " (https endpoint without TLS settings)"
	}
	return hint.Wrap(&Error{Msg: msg}, advice)
}

func anyHTTPS(eps []string) bool {
	for _, e := range eps {
		if strings.HasPrefix(e, "https://") {
			return true
		}
	}
	return false
}

func (c *Client) connectError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return c.unreachable()
	}
	return c.describe("connect to etcd", err)
}

// MonitorConnection calls changed each time the connection to etcd stops
// being ready or becomes ready again, until ctx ends; it starts from
// ready, as Connect leaves it. The etcd client reconnects (and resumes its
// watches) by itself and says nothing while it does: this is how its user
// learns that etcd is gone. It returns at once; the calls come from
// another goroutine, one at a time.
func (c *Client) MonitorConnection(ctx context.Context, changed func(ready bool)) {
	conn := c.cli.ActiveConnection()
	go func() {
		ready := true
		for {
			s := conn.GetState()
			if now := s == connectivity.Ready; now != ready {
				ready = now
				changed(ready)
			}
			if !conn.WaitForStateChange(ctx, s) {
				return
			}
		}
	}()
}

// Close ends the connection.
func (c *Client) Close() error {
	return c.cli.Close()
}

// Endpoints are the endpoints the client was configured with.
func (c *Client) Endpoints() []string { return c.cfg.Endpoints }

// Prefix is the namespace keys are read under ("" for none).
func (c *Client) Prefix() string { return c.cfg.Prefix }

// requestCtx bounds one request by the command timeout.
func (c *Client) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.CommandTimeout)
}

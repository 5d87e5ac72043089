package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/internal/view"
)

func kvCommand(env *runEnv) *cli.Command {
	jsonFlag := func() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON"} }
	recursive := func(usage string) cli.Flag {
		return &cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: usage}
	}
	return &cli.Command{
		Name:  "kv",
		Usage: "read and change etcd keys (the original's etcd-util)",
		UsageText: `reconfig kv get KEY [-r]
   reconfig kv set KEY VALUE|- [--ttl D] [--keepalive]
   reconfig kv del KEY [-r]
   reconfig kv watch KEY [-r] [--json] [--rev REV]
   reconfig kv status [--json]

Keys are read and written under --prefix when it is given.`,
		Subcommands: []*cli.Command{
			{
				Name:  "get",
				Usage: "print a key's value as JSON, a directory's children, or (-r) every key under it",
				UsageText: `reconfig kv get KEY [-r]

Examples:
   reconfig kv get /abc/test2        # {"/abc/test2": "hello"}
   reconfig kv get /abc              # ["/abc/test1", "/abc/test2"]
   reconfig kv get / -r              # every key → value`,
				Flags: []cli.Flag{recursive("print every key under KEY with its value, as one JSON object")},
				Action: func(c *cli.Context) error {
					key, err := oneKey(c, "kv get")
					if err != nil {
						return err
					}
					return runKVGet(c, env, key, c.Bool("recursive"))
				},
			},
			{
				Name:  "set",
				Usage: "set a key, optionally with a TTL (a lease), or hold it while running (--keepalive)",
				UsageText: `reconfig kv set KEY VALUE [--ttl D] [--keepalive]

VALUE "-" reads the value from standard input (any size etcd accepts).
--ttl takes seconds (30) or a duration (30s, 2m): the key goes when its
lease expires. With --keepalive the command holds the lease until it is
stopped: SIGTERM or SIGINT deletes the key at once; a crash leaves it
until the TTL runs out (default 10s). It sets the key again, on a new
lease, after an etcd outage longer than the TTL or a lost lease, and logs
both on stderr (--log-format, --debug).

Examples:
   reconfig kv set /services/web/web-3 10.0.0.13:8080 --ttl 30
   reconfig kv set /services/web/$(hostname) 10.0.0.13:8080 --ttl 10s --keepalive
   reconfig kv set /app/config - < config.json
   reconfig kv set /app/offset -1`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "ttl", Aliases: []string{"t"}, Usage: "expire the key after `D` (seconds, or a duration like 30s), through a lease"},
					&cli.BoolFlag{Name: "keepalive", Usage: "hold the key until stopped: renew its lease, set it again after a lost lease, delete it on SIGTERM/SIGINT"},
				},
				Action: func(c *cli.Context) error {
					a, err := parseKVSet(c)
					if err != nil {
						return err
					}
					if a.keepalive {
						return runKVHold(c, env, a)
					}
					return runKVSet(c, env, a)
				},
			},
			{
				Name:      "del",
				Aliases:   []string{"delete", "rm"},
				Usage:     "delete a key, or (-r) a key and everything under it",
				UsageText: "reconfig kv del KEY [-r]",
				Flags:     []cli.Flag{recursive("delete every key under KEY too")},
				Action: func(c *cli.Context) error {
					key, err := oneKey(c, "kv del")
					if err != nil {
						return err
					}
					return runKVDel(c, env, key, c.Bool("recursive"))
				},
			},
			{
				Name:  "watch",
				Usage: "print each change of a key (or, -r, of every key under it) until interrupted",
				UsageText: `reconfig kv watch KEY [-r] [--json] [--rev REV]

Prints one line per event: revision, PUT or DELETE, key, value (quoted).

Example:
   reconfig kv watch /services -r --rev 1     # every change since the start`,
				Flags: []cli.Flag{recursive("watch every key under KEY too"), jsonFlag(),
					&cli.Int64Flag{Name: "rev", Usage: "start at etcd revision `REV` (default: now), replaying the changes since"}},
				Action: func(c *cli.Context) error {
					key, err := oneKey(c, "kv watch")
					if err != nil {
						return err
					}
					return runKVWatch(c, env, key, c.Bool("recursive"), c.Bool("json"), c.Int64("rev"))
				},
			},
			{
				Name:      "status",
				Usage:     "print each endpoint's version, leadership, raft term, revision and db size, and the members",
				UsageText: "reconfig kv status [--json]",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    func(c *cli.Context) error { return runKVStatus(c, env, c.Bool("json")) },
			},
		},
	}
}

func oneKey(c *cli.Context, cmd string) (string, error) {
	if c.NArg() != 1 {
		return "", &usageError{msg: cmd + " takes one key", cmd: cmd}
	}
	key := c.Args().First()
	if !strings.HasPrefix(key, "/") {
		return "", &usageError{msg: fmt.Sprintf("key %q must start with \"/\"", key), cmd: cmd}
	}
	return key, nil
}

func kvClient(c *cli.Context, env *runEnv) (*etcd.Client, error) {
	_, cli, err := env.dial(c)
	return cli, err
}

func notFound(err error) error {
	var nf *etcd.NotFoundError
	if errors.As(err, &nf) {
		return &exitError{code: ExitError, err: err}
	}
	return err
}

func runKVGet(c *cli.Context, env *runEnv, key string, recursive bool) error {
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	if recursive {
		kvs, err := cli.GetTree(c.Context, snapshot.Selector{Key: key, Recursive: true})
		if err != nil {
			return err
		}
		if len(kvs) == 0 {
			return notFound(&etcd.NotFoundError{Key: key})
		}
		return env.view().KVValues(kvs)
	}
	v, err := cli.Get(c.Context, key)
	var nf *etcd.NotFoundError
	if errors.As(err, &nf) {
		children, cerr := cli.Children(c.Context, key)
		if cerr != nil {
			return cerr
		}
		if len(children) == 0 {
			return notFound(err)
		}
		return env.view().KVChildren(children)
	}
	if err != nil {
		return err
	}
	return env.view().KVValues([]snapshot.KV{{Key: key, Value: v}})
}

// kvSetArgs is a `kv set` command line.
type kvSetArgs struct {
	key, value string
	ttl        time.Duration // 0: no lease
	keepalive  bool
}

// defaultHoldTTL is the lease of `kv set --keepalive` without --ttl.
const defaultHoldTTL = 10 * time.Second

// maxStdinValue caps a value read from standard input: far above what
// etcd accepts (1.5 MiB unless --max-request-bytes says more), far below
// what would exhaust memory.
const maxStdinValue = 64 << 20

func parseKVSet(c *cli.Context) (kvSetArgs, error) {
	if c.NArg() != 2 {
		return kvSetArgs{}, &usageError{msg: "kv set takes a key and a value (- reads it from standard input)", cmd: "kv set"}
	}
	a := kvSetArgs{key: c.Args().Get(0), value: c.Args().Get(1), keepalive: c.Bool("keepalive")}
	if !strings.HasPrefix(a.key, "/") {
		return a, &usageError{msg: fmt.Sprintf("key %q must start with \"/\"", a.key), cmd: "kv set"}
	}
	ttl, err := parseTTL(c.String("ttl"))
	if err != nil {
		return a, &usageError{msg: err.Error(), cmd: "kv set"}
	}
	a.ttl = ttl
	if a.keepalive && a.ttl == 0 {
		if c.IsSet("ttl") {
			return a, &usageError{msg: "--keepalive needs a --ttl of at least 1s", cmd: "kv set"}
		}
		a.ttl = defaultHoldTTL
	}
	if a.value == "-" {
		data, err := io.ReadAll(io.LimitReader(c.App.Reader, maxStdinValue+1))
		if err != nil {
			return a, fmt.Errorf("read the value from standard input: %w", err)
		}
		if len(data) > maxStdinValue {
			return a, fmt.Errorf("the value on standard input is larger than %d MiB", maxStdinValue>>20)
		}
		a.value = string(data)
	}
	return a, nil
}

// parseTTL reads --ttl: whole seconds, as a number (30) or a duration
// (30s, 2m); etcd's leases count seconds. "" is no TTL.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("--ttl %s is too long", s)
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("--ttl %q is neither seconds nor a duration like 30s", s)
	}
	switch {
	case d < 0:
		return 0, fmt.Errorf("--ttl must not be negative")
	case d%time.Second != 0:
		return 0, fmt.Errorf("--ttl %s is not whole seconds (etcd's leases count seconds)", s)
	}
	return d, nil
}

func runKVSet(c *cli.Context, env *runEnv, a kvSetArgs) error {
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	ttl := int64(a.ttl / time.Second)
	rev, err := cli.Put(c.Context, a.key, a.value, ttl)
	if err != nil {
		return err
	}
	env.view().KVSet(a.key, ttl, rev)
	return nil
}

// runKVHold sets the key on a lease and holds it until SIGTERM or SIGINT,
// which delete it.
func runKVHold(c *cli.Context, env *runEnv, a kvSetArgs) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	out := view.NewKVHold(newLogger(g, env.io.Stderr))
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			out.Stopping(s.String())
			cancel()
		case <-ctx.Done():
		}
	}()
	cli, err := env.connect(ctx, g)
	if err != nil {
		if ctx.Err() != nil && c.Context.Err() == nil {
			return nil // stopped by a signal before anything was set
		}
		return err
	}
	defer cli.Close()
	return cli.Hold(ctx, a.key, a.value, a.ttl, out.Event)
}

func runKVDel(c *cli.Context, env *runEnv, key string, recursive bool) error {
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	n, err := cli.Delete(c.Context, key, recursive)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(&etcd.NotFoundError{Key: key})
	}
	env.view().KVDeleted(n)
	return nil
}

func runKVWatch(c *cli.Context, env *runEnv, key string, recursive, asJSON bool, rev int64) error {
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sel := snapshot.Selector{Key: key, Recursive: recursive}
	spans := snapshot.Cover([]snapshot.Selector{sel})
	for i := range spans {
		spans[i].Rev = rev
	}
	out := view.NewKVWatch(env.view(), asJSON)
	for b := range cli.Watch(ctx, spans, nil).All() {
		if errors.Is(b.Err, etcd.ErrCompacted) && b.CompactRevision > 0 {
			return hint.Wrap(b.Err, fmt.Sprintf("etcd keeps the changes from revision %d on: give --rev %d or later, or no --rev to watch from now", b.CompactRevision, b.CompactRevision))
		}
		if b.Err != nil {
			return b.Err
		}
		var evs []snapshot.Event
		for _, ev := range b.Events {
			if sel.Match(ev.Key) {
				evs = append(evs, ev)
			}
		}
		out.Events(evs)
	}
	return nil
}

func runKVStatus(c *cli.Context, env *runEnv, asJSON bool) error {
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	sts, members, err := cli.Status(c.Context)
	if err != nil {
		return err
	}
	if err := view.NewKVStatus(env.view(), asJSON).Status(sts, members); err != nil {
		return err
	}
	// An endpoint that did not answer fails the command; the output (and
	// the JSON document) tells its error.
	for _, s := range sts {
		if s.Err != nil {
			return exit(ExitError)
		}
	}
	return nil
}

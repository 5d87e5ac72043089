package command

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/etcd"
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
   reconfig kv set KEY VALUE [--ttl SECONDS]
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
				Name:      "set",
				Usage:     "set a key, optionally with a TTL (a lease)",
				UsageText: "reconfig kv set KEY VALUE [--ttl SECONDS]\n\nExample:\n   reconfig kv set /services/web/web-3 10.0.0.13:8080 --ttl 30",
				Flags:     []cli.Flag{&cli.Int64Flag{Name: "ttl", Aliases: []string{"t"}, Usage: "expire the key after `SECONDS` (through a lease)"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return &usageError{msg: "kv set takes a key and a value", cmd: "kv set"}
					}
					if c.Int64("ttl") < 0 {
						return &usageError{msg: "--ttl must not be negative", cmd: "kv set"}
					}
					return runKVSet(c, env, c.Args().Get(0), c.Args().Get(1), c.Int64("ttl"))
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
	g, err := env.globals(c)
	if err != nil {
		return nil, err
	}
	return env.connect(c.Context, g)
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

func runKVSet(c *cli.Context, env *runEnv, key, value string, ttl int64) error {
	if !strings.HasPrefix(key, "/") {
		return &usageError{msg: fmt.Sprintf("key %q must start with \"/\"", key), cmd: "kv set"}
	}
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	rev, err := cli.Put(c.Context, key, value, ttl)
	if err != nil {
		return err
	}
	env.view().KVSet(key, ttl, rev)
	return nil
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
	if asJSON {
		// The document tells each endpoint's error.
		return nil
	}
	for _, s := range sts {
		if s.Err != nil {
			return exit(ExitError)
		}
	}
	return nil
}

package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
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

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// orderedObject prints key/values as a JSON object in key order.
type orderedObject []snapshot.KV

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString("{")
	for i, kv := range o {
		if i > 0 {
			b.WriteString(",")
		}
		k, _ := json.Marshal(kv.Key)
		v, _ := json.Marshal(kv.Value)
		b.Write(k)
		b.WriteString(":")
		b.Write(v)
	}
	b.WriteString("}")
	return []byte(b.String()), nil
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
	w := env.io.Stdout
	if recursive {
		kvs, err := cli.GetTree(c.Context, snapshot.Selector{Key: key, Recursive: true})
		if err != nil {
			return err
		}
		if len(kvs) == 0 {
			return notFound(&etcd.NotFoundError{Key: key})
		}
		return printJSON(w, orderedObject(kvs))
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
		return printJSON(w, children)
	}
	if err != nil {
		return err
	}
	return printJSON(w, orderedObject{{Key: key, Value: v}})
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
	if ttl > 0 {
		fmt.Fprintf(env.io.Stdout, "Set %s (expires in %ds) at revision %d.\n", key, ttl, rev)
	} else {
		fmt.Fprintf(env.io.Stdout, "Set %s at revision %d.\n", key, rev)
	}
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
	fmt.Fprintf(env.io.Stdout, "Deleted %d key%s.\n", n, plural(int(n)))
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
	w := env.io.Stdout
	for b := range cli.Watch(ctx, spans, nil).All() {
		if b.Err != nil {
			return b.Err
		}
		for _, ev := range b.Events {
			if !sel.Match(ev.Key) {
				continue
			}
			typ := "PUT"
			if ev.Delete {
				typ = "DELETE"
			}
			if asJSON {
				line, _ := json.Marshal(map[string]any{"revision": ev.Revision, "type": typ, "key": ev.Key, "value": ev.Value})
				fmt.Fprintf(w, "%s\n", line)
				continue
			}
			if ev.Delete {
				fmt.Fprintf(w, "%d DELETE %s\n", ev.Revision, view.Printable(ev.Key))
			} else {
				fmt.Fprintf(w, "%d PUT %s %s\n", ev.Revision, view.Printable(ev.Key), strconv.Quote(ev.Value))
			}
		}
		if f, ok := w.(interface{ Sync() error }); ok {
			f.Sync()
		}
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
	w := env.io.Stdout
	if asJSON {
		type st struct {
			Endpoint  string   `json:"endpoint"`
			MemberID  string   `json:"member_id,omitempty"`
			Version   string   `json:"version,omitempty"`
			Leader    bool     `json:"leader"`
			RaftTerm  uint64   `json:"raft_term,omitempty"`
			Revision  int64    `json:"revision,omitempty"`
			DBSize    int64    `json:"db_size,omitempty"`
			ClusterID string   `json:"cluster_id,omitempty"`
			Errors    []string `json:"errors,omitempty"`
			Error     string   `json:"error,omitempty"`
		}
		var out struct {
			Endpoints []st          `json:"endpoints"`
			Members   []etcd.Member `json:"members"`
		}
		for _, s := range sts {
			j := st{Endpoint: s.Endpoint, MemberID: s.MemberID, Version: s.Version, Leader: s.IsLeader, RaftTerm: s.RaftTerm,
				Revision: s.Revision, DBSize: s.DBSize, ClusterID: s.ClusterID, Errors: s.Errors}
			if s.Err != nil {
				j.Error = s.Err.Error()
			}
			out.Endpoints = append(out.Endpoints, j)
		}
		out.Members = members
		return printJSON(w, out)
	}
	failed := false
	for _, s := range sts {
		if s.Err != nil {
			failed = true
			fmt.Fprintf(w, "%s: %s\n", s.Endpoint, env.style.Err.Sprint(s.Err.Error()))
			continue
		}
		role := "follower"
		if s.IsLeader {
			role = "leader"
		}
		fmt.Fprintf(w, "%s: etcd %s, %s, member %s, raft term %d, revision %d, db size %s, cluster %s\n",
			s.Endpoint, s.Version, role, s.MemberID, s.RaftTerm, s.Revision, humanBytes(s.DBSize), s.ClusterID)
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  alarm: %s\n", e)
		}
	}
	fmt.Fprintf(w, "members:\n")
	for _, m := range members {
		fmt.Fprintf(w, "  %s  %s  peers %s  clients %s\n", m.ID, m.Name, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","))
	}
	if failed {
		return exit(ExitError)
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

package command

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/internal/view"
)

// fleetPrefixFlag is --fleet-prefix, shared by `watch --fleet` and the
// fleet commands.
func fleetPrefixFlag() cli.Flag {
	return &cli.StringFlag{Name: "fleet-prefix", Value: fleet.DefaultPrefix, EnvVars: envs("fleet-prefix"),
		Usage: "the fleet's keys (hosts/, claims/, control/) live under `PREFIX`, itself under --prefix"}
}

// fleetKeys reads --fleet-prefix.
func fleetKeys(c *cli.Context, cmd string) (fleet.Keys, error) {
	p := c.String("fleet-prefix")
	if p == "" || !strings.HasPrefix(p, "/") || p == "/" {
		return fleet.Keys{}, &usageError{msg: fmt.Sprintf("--fleet-prefix %q must start with \"/\" and name a key below it", p), cmd: cmd}
	}
	return fleet.NewKeys(p), nil
}

// fleetGroup reads --group ("" for every group).
func fleetGroup(c *cli.Context, cmd string) (string, error) {
	g := c.String("group")
	if c.IsSet("group") {
		if err := fleet.CheckName("group", g); err != nil {
			return "", &usageError{msg: err.Error(), cmd: cmd}
		}
	}
	return g, nil
}

type fleetStatusArgs struct {
	keys     fleet.Keys
	group    string
	json     bool
	detailed bool
	settle   time.Duration
}

type fleetWaitArgs struct {
	keys     fleet.Keys
	group    string
	revision int64
	timeout  time.Duration
	minHosts int
	json     bool
}

type fleetHoldArgs struct {
	keys   fleet.Keys
	reason string
}

func fleetCommand(env *runEnv) *cli.Command {
	group := func() cli.Flag {
		return &cli.StringFlag{Name: "group", Usage: "only the hosts of `GROUP` (watch --group)"}
	}
	jsonFlag := func(what string) cli.Flag {
		return &cli.BoolFlag{Name: "json", Usage: "print " + what + " as one JSON document"}
	}
	noArgs := func(c *cli.Context, cmd string) error {
		if c.Args().Present() {
			return &usageError{msg: fmt.Sprintf("%s takes no arguments (got %q)", cmd, c.Args().First()), cmd: cmd}
		}
		return nil
	}
	return &cli.Command{
		Name:  "fleet",
		Usage: "see and steer the hosts that run `reconfig watch --fleet`: status, wait, hold, release, promote, serve",
		UsageText: `reconfig fleet status [--group G] [--json] [--detailed-exitcode] [--settle D]
   reconfig fleet wait [--revision R] [--timeout D] [--group G] [--min-hosts N] [--json]
   reconfig fleet hold [--reason TEXT]
   reconfig fleet release
   reconfig fleet promote [--revision R]
   reconfig fleet serve [--listen 127.0.0.1:8080] [--group G]

Every --fleet daemon reports the revision it is at, what each binding did,
and whether it is healthy, under --fleet-prefix (itself under --prefix).`,
		Subcommands: []*cli.Command{
			{
				Name:  "status",
				Usage: "print every live host's revision, lag, state and failing bindings, then a summary",
				UsageText: `reconfig fleet status [--group G] [--json] [--detailed-exitcode] [--settle D]

Writes a barrier that every --fleet daemon answers with the revision it is
at, waits up to --settle for the answers, and judges each host against the
barrier's revision: failed (a binding failed or the daemon is unhealthy),
held, behind, or ok.

Examples:
   reconfig fleet status
   reconfig fleet status --group lb --detailed-exitcode   # 0 all ok, 2 some behind or held, 1 some failed
   reconfig fleet status --json | jq '.hosts[] | select(.state != "ok") | .name'`,
				Flags: []cli.Flag{fleetPrefixFlag(), group(), jsonFlag("the report"),
					&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 2 when some host is behind or held, 1 when one failed (0: every host ok)"},
					&cli.DurationFlag{Name: "settle", Value: 2 * time.Second, Usage: "wait up to `D` for every host to answer the barrier"}},
				Action: func(c *cli.Context) error {
					if err := noArgs(c, "fleet status"); err != nil {
						return err
					}
					keys, err := fleetKeys(c, "fleet status")
					if err != nil {
						return err
					}
					g, err := fleetGroup(c, "fleet status")
					if err != nil {
						return err
					}
					if c.Duration("settle") < 0 {
						return &usageError{msg: "--settle must not be negative", cmd: "fleet status"}
					}
					return runFleetStatus(c, env, fleetStatusArgs{keys: keys, group: g, json: c.Bool("json"),
						detailed: c.Bool("detailed-exitcode"), settle: c.Duration("settle")})
				},
			},
			{
				Name:  "wait",
				Usage: "block until every live host is at a revision and healthy (exit 0), one failed there (1), or time is up (2)",
				UsageText: `reconfig fleet wait [--revision R] [--timeout D] [--group G] [--min-hosts N] [--json]

Waits, on a watch, until every live host of the group — at least
--min-hosts of them — is at revision R (default: etcd's revision when the
command starts) and healthy: exit 0. A host that reports a failure at R
ends the wait at once: exit 1, naming the host, the binding and its error.
When --timeout passes first: exit 2, listing the hosts behind and where
they are. Hosts that appear during the wait count; hosts whose status
disappears (stopped, lease expired) stop counting.

Example, the line a deploy pipeline puts after its change:
   etcdctl put /app/backends '...' && reconfig fleet wait --timeout 5m --min-hosts 200`,
				Flags: []cli.Flag{fleetPrefixFlag(), group(), jsonFlag("the outcome"),
					&cli.Int64Flag{Name: "revision", Usage: "wait for revision `R`", DefaultText: "etcd's revision when the command starts"},
					&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "give up after `D` (exit 2)"},
					&cli.IntFlag{Name: "min-hosts", Value: 1, Usage: "fewer than `N` live hosts never count as converged"}},
				Action: func(c *cli.Context) error {
					if err := noArgs(c, "fleet wait"); err != nil {
						return err
					}
					keys, err := fleetKeys(c, "fleet wait")
					if err != nil {
						return err
					}
					g, err := fleetGroup(c, "fleet wait")
					if err != nil {
						return err
					}
					switch {
					case c.Int64("revision") < 0:
						return &usageError{msg: "--revision must not be negative", cmd: "fleet wait"}
					case c.Duration("timeout") <= 0:
						return &usageError{msg: "--timeout must be positive", cmd: "fleet wait"}
					case c.Int("min-hosts") < 0:
						return &usageError{msg: "--min-hosts must not be negative", cmd: "fleet wait"}
					}
					return runFleetWait(c, env, fleetWaitArgs{keys: keys, group: g, revision: c.Int64("revision"),
						timeout: c.Duration("timeout"), minHosts: c.Int("min-hosts"), json: c.Bool("json")})
				},
			},
			{
				Name:  "hold",
				Usage: "the emergency brake: every --fleet daemon applies nothing new until `fleet release`",
				UsageText: `reconfig fleet hold [--reason TEXT]

Held daemons keep their snapshot current but apply nothing new, and report
"held: TEXT". The hold outlives this command; fleet status shows who set it
and since when.

Example:
   reconfig fleet hold --reason "INC-4711: bad backend list"`,
				Flags: []cli.Flag{fleetPrefixFlag(), &cli.StringFlag{Name: "reason", Usage: "why the fleet is held, `TEXT` every host reports"}},
				Action: func(c *cli.Context) error {
					if err := noArgs(c, "fleet hold"); err != nil {
						return err
					}
					keys, err := fleetKeys(c, "fleet hold")
					if err != nil {
						return err
					}
					return runFleetHold(c, env, fleetHoldArgs{keys: keys, reason: c.String("reason")})
				},
			},
			{
				Name:      "release",
				Usage:     "release the hold: every --fleet daemon applies the latest at once",
				UsageText: "reconfig fleet release",
				Flags:     []cli.Flag{fleetPrefixFlag()},
				Action: func(c *cli.Context) error {
					if err := noArgs(c, "fleet release"); err != nil {
						return err
					}
					keys, err := fleetKeys(c, "fleet release")
					if err != nil {
						return err
					}
					return runFleetRelease(c, env, keys)
				},
			},
			{
				Name:  "promote",
				Usage: "let the followers of canary groups apply up to a revision without the canaries",
				UsageText: `reconfig fleet promote [--revision R]

Followers (watch --fleet --follow GROUP) apply a revision only once the
hosts of GROUP applied it and stayed healthy. promote overrides that: every
follower may apply up to revision R (default: etcd's revision now). The
promotion is recorded with who and when, and followers report it.

Example, the canaries are down and the change must go out:
   reconfig fleet promote`,
				Flags: []cli.Flag{fleetPrefixFlag(),
					&cli.Int64Flag{Name: "revision", Usage: "promote up to revision `R`", DefaultText: "etcd's revision now"}},
				Action: func(c *cli.Context) error {
					if err := noArgs(c, "fleet promote"); err != nil {
						return err
					}
					keys, err := fleetKeys(c, "fleet promote")
					if err != nil {
						return err
					}
					if c.Int64("revision") < 0 {
						return &usageError{msg: "--revision must not be negative", cmd: "fleet promote"}
					}
					return runFleetPromote(c, env, keys, c.Int64("revision"))
				},
			},
			fleetServeCommand(env),
		},
	}
}

// readFleet reads every key under the fleet prefix at one revision.
func readFleet(ctx context.Context, cli *etcd.Client, keys fleet.Keys) (*fleet.Fleet, int64, error) {
	entries, rev, err := cli.List(ctx, keys.All())
	if err != nil {
		return nil, 0, err
	}
	f := fleet.NewFleet(keys)
	for _, e := range entries {
		f.Put(e.Key, e.Value, e.ModRevision)
	}
	return f, rev, nil
}

// writeBarrier writes the barrier every --fleet daemon answers with the
// revision it is at, and returns the barrier's revision.
func writeBarrier(ctx context.Context, cli *etcd.Client, keys fleet.Keys, by string) (int64, error) {
	nonce := make([]byte, 8)
	rand.Read(nonce)
	value, err := json.Marshal(fleet.Barrier{By: operator() + ": " + by, Since: time.Now().UTC(), Nonce: hex.EncodeToString(nonce)})
	if err != nil {
		return 0, err
	}
	return cli.Put(ctx, keys.Barrier(), string(value), 0)
}

// follow applies the changes under the fleet prefix after revision from
// to f, as a watch reports them, until done says so (nil), ctx ends
// (ctx's error) or the watch fails.
func follow(ctx context.Context, cli *etcd.Client, f *fleet.Fleet, from int64, done func() bool) error {
	keys := f.Keys()
	span := snapshot.Span{Start: keys.All(), End: keys.Prefix() + "0", Rev: from + 1}
	stream := cli.Watch(ctx, []snapshot.Span{span}, nil)
	defer stream.Close()
	for range stream.Ready() {
		batches, open := stream.Take()
		for _, b := range batches {
			if b.Err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return b.Err
			}
			for _, ev := range b.Events {
				if ev.Revision <= from {
					continue
				}
				if ev.Delete {
					f.Delete(ev.Key)
				} else {
					f.Put(ev.Key, ev.Value, ev.Revision)
				}
			}
		}
		if done() {
			return nil
		}
		if !open {
			break
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &etcd.Error{Msg: "watch " + keys.All() + ": the stream closed"}
}

func runFleetStatus(c *cli.Context, env *runEnv, a fleetStatusArgs) error {
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, rev, err := readFleet(ctx, cli, a.keys)
	if err != nil {
		return err
	}
	against, barrierErr := rev, ""
	b, err := writeBarrier(ctx, cli, a.keys, "fleet status")
	switch {
	case errors.Is(err, etcd.ErrPermissionDenied):
		barrierErr = err.Error()
	case err != nil:
		return err
	default:
		against = b
		if a.settle > 0 && !f.Settled(b, a.group) {
			sctx, cancel := context.WithTimeout(ctx, a.settle)
			err := follow(sctx, cli, f, rev, func() bool { return f.Settled(b, a.group) })
			cancel()
			switch {
			case ctx.Err() != nil:
				return &etcd.Error{Msg: "fleet status: interrupted", Err: ctx.Err()}
			case err != nil && !errors.Is(err, context.DeadlineExceeded):
				return err
			}
		}
	}
	rep := f.Report(against, a.group, time.Now())
	rep.Barrier, rep.BarrierError = barrierErr == "", barrierErr
	if err := view.NewFleetStatus(env.view(), a.json).Report(rep); err != nil {
		return err
	}
	if !a.detailed {
		return nil
	}
	switch {
	case rep.Summary.Failed > 0:
		return exit(ExitError)
	case rep.Summary.Behind > 0 || rep.Summary.Held > 0:
		return exit(ExitChanges)
	}
	return nil
}

// finalReadTimeout bounds the read of the fleet that decides a timed-out
// wait.
const finalReadTimeout = 5 * time.Second

func runFleetWait(c *cli.Context, env *runEnv, a fleetWaitArgs) error {
	start := time.Now()
	cli, err := kvClient(c, env)
	if err != nil {
		return err
	}
	defer cli.Close()
	sigCtx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, a.timeout)
	defer cancel()
	f, rev, err := readFleet(ctx, cli, a.keys)
	if err != nil {
		return err
	}
	r := a.revision
	if r == 0 {
		r = rev
	}
	out := env.view()
	if _, err := writeBarrier(ctx, cli, a.keys, "fleet wait"); errors.Is(err, etcd.ErrPermissionDenied) {
		out.FleetWaitNoBarrier(err.Error())
	} else if err != nil && ctx.Err() == nil {
		return err
	}
	// Interrupted or out of time from here on, the wait says where the
	// fleet stands.
	outcome := f.Outcome(r, a.group, a.minHosts)
	if outcome == fleet.Waiting {
		err := ctx.Err()
		if err == nil {
			err = follow(ctx, cli, f, rev, func() bool {
				outcome = f.Outcome(r, a.group, a.minHosts)
				return outcome != fleet.Waiting
			})
		}
		switch {
		case err == nil:
		case sigCtx.Err() != nil:
		case ctx.Err() != nil:
			outcome = fleet.TimedOut
		default:
			return err
		}
	}
	if outcome == fleet.TimedOut && sigCtx.Err() == nil {
		// The watch does not say when etcd stopped answering: what it
		// told may be as old as that. The verdict of a timeout comes from
		// a read of the fleet now.
		rctx, cancel := context.WithTimeout(sigCtx, finalReadTimeout)
		fresh, _, err := readFleet(rctx, cli, a.keys)
		cancel()
		if err != nil {
			if sigCtx.Err() != nil {
				return &etcd.Error{Msg: "fleet wait: interrupted", Err: sigCtx.Err()}
			}
			return hint.Wrap(fmt.Errorf("fleet wait: the time is up and etcd did not answer: where the hosts are is unknown: %w", err),
				"see whether etcd is reachable (reconfig kv status), then run fleet wait again")
		}
		f = fresh
		if outcome = f.Outcome(r, a.group, a.minHosts); outcome == fleet.Waiting {
			outcome = fleet.TimedOut
		}
	}
	v := f.Wait(r, a.group, a.minHosts, time.Now())
	if outcome == fleet.TimedOut {
		v.Outcome = outcome
	}
	v.Elapsed = time.Since(start)
	if err := view.NewFleetWait(out, a.json).Ended(v); err != nil {
		return err
	}
	switch v.Outcome {
	case fleet.Converged:
		return nil
	case fleet.TimedOut:
		return exit(ExitChanges)
	}
	return exit(ExitError)
}

func runFleetHold(c *cli.Context, env *runEnv, a fleetHoldArgs) error {
	g, cli, err := env.dial(c)
	if err != nil {
		return err
	}
	defer cli.Close()
	key := a.keys.Hold()
	prev, err := currentHold(c.Context, cli, key)
	if err != nil {
		return writeHint(err, g, key)
	}
	h := fleet.Hold{Reason: a.reason, User: currentUser(), Host: hostname(), Since: time.Now().UTC()}
	value, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if _, err := cli.Put(c.Context, key, string(value), 0); err != nil {
		return writeHint(err, g, key)
	}
	env.view().FleetHeld(a.keys.Prefix(), h, prev)
	return nil
}

func runFleetRelease(c *cli.Context, env *runEnv, keys fleet.Keys) error {
	g, cli, err := env.dial(c)
	if err != nil {
		return err
	}
	defer cli.Close()
	key := keys.Hold()
	prev, err := currentHold(c.Context, cli, key)
	if err != nil {
		return writeHint(err, g, key)
	}
	n, err := cli.Delete(c.Context, key, false)
	if err != nil {
		return writeHint(err, g, key)
	}
	if n == 0 {
		prev = nil
	}
	env.view().FleetReleased(keys.Prefix(), prev)
	return nil
}

func runFleetPromote(c *cli.Context, env *runEnv, keys fleet.Keys, rev int64) error {
	g, cli, err := env.dial(c)
	if err != nil {
		return err
	}
	defer cli.Close()
	_, now, err := cli.List(c.Context, keys.Promote())
	if err != nil {
		return writeHint(err, g, keys.Promote())
	}
	switch {
	case rev == 0:
		rev = now
	case rev > now:
		// Followers could not render it, and would ignore it.
		return &usageError{msg: fmt.Sprintf("--revision: revision %d is beyond etcd's revision %d", rev, now), cmd: "fleet promote"}
	default:
		// Nor a compacted one: they would hold at it until the gate
		// moves past it, saying they cannot render it.
		_, _, err := cli.SnapshotAt(c.Context, []snapshot.Selector{{Key: keys.Promote()}}, rev)
		if errors.Is(err, etcd.ErrCompacted) {
			return hint.Wrap(fmt.Errorf("--revision: revision %d is compacted: followers could not render it", rev),
				"promote a later revision, or leave --revision out for etcd's revision now")
		}
		if err != nil {
			return writeHint(err, g, keys.Promote())
		}
	}
	p := fleet.Promote{Revision: rev, User: currentUser(), Host: hostname(), Since: time.Now().UTC()}
	value, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := cli.Put(c.Context, keys.Promote(), string(value), 0); err != nil {
		return writeHint(err, g, keys.Promote())
	}
	env.view().FleetPromoted(keys.Prefix(), p)
	return nil
}

// currentHold reads the hold (nil: not held).
func currentHold(ctx context.Context, cli *etcd.Client, key string) (*fleet.Hold, error) {
	v, err := cli.Get(ctx, key)
	var nf *etcd.NotFoundError
	switch {
	case errors.As(err, &nf):
		return nil, nil
	case err != nil:
		return nil, err
	}
	h := fleet.DecodeHold([]byte(v))
	return &h, nil
}

// writeHint tells a user whose role may not touch the hold what it needs.
func writeHint(err error, g *globals, key string) error {
	if !errors.Is(err, etcd.ErrPermissionDenied) {
		return err
	}
	full := strings.TrimSuffix(g.prefix, "/") + key
	return hint.Wrap(err, fmt.Sprintf("the hold needs read and write access to %s: etcdctl role grant-permission ROLE readwrite %s", full, full))
}

// operator names who runs the command: user@host.
func operator() string { return currentUser() + "@" + hostname() }

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
}

package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/internal/view"
)

// connect dials etcd with the global options.
func (e *runEnv) connect(ctx context.Context, g *globals) (*etcd.Client, error) {
	if g.user != "" && g.password == "" && !g.askedPassword {
		pw, asked, err := askPassword(e.io.Stdin, e.io.Stderr, g.user)
		if err != nil {
			return nil, err
		}
		g.password, g.askedPassword = pw, asked
	}
	return connect(ctx, g)
}

// connect dials etcd with the global options.
func connect(ctx context.Context, g *globals) (*etcd.Client, error) {
	cfg := etcd.Config{
		Endpoints:      g.endpoints,
		DialTimeout:    g.dialTimeout,
		CommandTimeout: g.commandTimeout,
		Prefix:         g.prefix,
		Username:       g.user,
		Password:       g.password,
	}
	eps, err := resolveEndpoints(ctx, g, nil)
	if err != nil {
		return nil, err
	}
	cfg.Endpoints = eps
	if cfg.TLS, err = tlsConfig(g, eps); err != nil {
		return nil, err
	}
	return etcd.Connect(ctx, cfg)
}

// readSnapshot takes the snapshot of every key the set reads, from etcd or
// from a file written by `snapshot save`.
func (e *runEnv) readSnapshot(ctx context.Context, g *globals, set *bindings.Set, file string, log *slog.Logger) (*snapshot.Snapshot, error) {
	if file != "" {
		return snapshot.ReadFile(file)
	}
	cli, err := e.connect(ctx, g)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	snap, stats, err := cli.Snapshot(ctx, set.Selectors())
	if err != nil {
		return nil, err
	}
	log.Debug("snapshot read", "revision", snap.Revision, "keys", stats.Keys, "ranges", stats.Ranges, "round_trips", stats.RoundTrips)
	return snap, nil
}

// selectTargets narrows the set to --target ids.
func selectTargets(set *bindings.Set, ids []string) (*bindings.Set, error) {
	s, err := set.Select(ids)
	if err != nil {
		return nil, hint.Wrap(err, "--target takes a binding id; `reconfig validate` lists them")
	}
	return s, nil
}

// globals parses the global options of a command (wherever they were
// given) and settles the output style.
func (e *runEnv) globals(c *cli.Context) (*globals, error) {
	g, err := parseGlobals(c)
	if err != nil {
		return nil, err
	}
	e.style = view.NewStyle(g.colorOn(e.io.Stdout))
	for _, w := range g.warnings {
		e.view().Warning(w)
	}
	return g, nil
}

// readOperatorFile reads a file the operator names on the command line:
// a symlink is followed (secret mounts, certbot's live/), but what it leads
// to must be a regular file of at most max bytes. Errors name the flag and
// the file.
func readOperatorFile(flag, path string, max int64) ([]byte, error) {
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: max, FollowSymlink: true})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, fmt.Errorf("%s %s %s", flag, path, re.What())
	case err != nil:
		return nil, fmt.Errorf("%s %s: %w", flag, path, atomicfile.WithoutPath(err))
	}
	return data, nil
}

// dial reads the global options and connects to etcd with them: what most
// commands that talk to etcd start with.
func (e *runEnv) dial(c *cli.Context) (*globals, *etcd.Client, error) {
	g, err := e.globals(c)
	if err != nil {
		return nil, nil, err
	}
	cli, err := e.connect(c.Context, g)
	return g, cli, err
}

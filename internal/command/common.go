package command

import (
	"context"
	"errors"
	"log/slog"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/internal/view"
)

// config is a loaded configuration directory: bindings and their parsed
// templates.
type config struct {
	set       *bindings.Set
	templates map[string]*render.Template
}

// loadErrors collects every problem of a configuration directory so that
// all are reported at once.
type loadErrors []error

func (l loadErrors) Error() string {
	var s string
	for i, e := range l {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

func (l loadErrors) Unwrap() []error { return l }

var _ hint.Hinter = loadErrors(nil)

// Hint says what to do.
func (l loadErrors) Hint() string {
	return "fix the files above; `reconfig validate` checks them without etcd"
}

// loadConfig reads every binding and template of dir. Its error lists
// every problem found.
func loadConfig(dir string) (*config, error) {
	set, err := bindings.Load(dir)
	var errs loadErrors
	var berrs bindings.Errors
	switch {
	case errors.As(err, &berrs):
		for _, e := range berrs {
			errs = append(errs, e)
		}
	case err != nil:
		return nil, &hinted{err: err, hint: "pass --cfgdir DIR (or RECONFIG_CFGDIR): a directory holding conf.d/ and templates/"}
	}
	cfg := &config{set: set, templates: map[string]*render.Template{}}
	for _, b := range set.Bindings {
		t, err := render.Compile(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.templates[b.ID] = t
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errs
	}
	return cfg, nil
}

// hinted is hint.Wrap(err, hint) written as a literal.
type hinted struct {
	err  error
	hint string
}

var _ hint.Hinter = (*hinted)(nil)

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }
func (h *hinted) Hint() string  { return h.hint }

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
		return nil, &hinted{err: err, hint: "--target takes a binding id; `reconfig validate` lists them"}
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
		view.Warning(e.io.Stderr, e.errStyle(), "%s", w)
	}
	return g, nil
}

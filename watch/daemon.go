package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/etcd"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/render"
	"github.com/reconfig/reconfig/snapshot"
	"github.com/reconfig/reconfig/state"
)

// Config is a loaded configuration directory.
type Config struct {
	Set       *bindings.Set
	Templates map[string]*render.Template
}

// Options configure the daemon.
type Options struct {
	// Load reads the bindings and templates, at start and on Reload.
	Load func() (*Config, error)
	// Connect dials etcd.
	Connect func(ctx context.Context) (*etcd.Client, error)
	// StatePath is the state file; its lock is held for each cycle.
	StatePath string
	// Force adopts a state recorded for another etcd cluster.
	Force bool
	// WaitMin and WaitMax are the quiescence: apply after WaitMin without
	// a change, but no later than WaitMax after the first change. Zero:
	// apply at once.
	WaitMin, WaitMax time.Duration
	// Resync re-reads a full snapshot and re-applies every binding this
	// often (default 10m), so a failure is retried even without a change.
	Resync time.Duration
	// ProgressInterval is how long the watch stream may stay silent before
	// the daemon asks etcd for a progress notification; ProgressTimeout is
	// how long it then waits for an answer before it reconnects.
	ProgressInterval, ProgressTimeout time.Duration
	// BackoffMin and BackoffMax bound the retry delay after etcd failures.
	BackoffMin, BackoffMax time.Duration
	// LockWait is how long a cycle waits for a state lock held by another
	// reconfig before it tries again later.
	LockWait time.Duration
	// Reload delivers SIGHUP: re-read the configuration.
	Reload <-chan struct{}
	Logger *slog.Logger
	// Metrics, when set, is updated as the daemon runs.
	Metrics *Metrics
	// OnCycle, when set, is called after every cycle.
	OnCycle func(Cycle)
}

// Cycle is the outcome of one plan/apply cycle.
type Cycle struct {
	Revision int64
	Plan     *plan.Plan
	Result   *apply.Result // nil when the cycle could not run
	Err      error         // why it could not run (lock held, state unusable)
}

func (o *Options) defaults() {
	if o.Resync <= 0 {
		o.Resync = 10 * time.Minute
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 30 * time.Second
	}
	if o.ProgressTimeout <= 0 {
		o.ProgressTimeout = 15 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.LockWait <= 0 {
		o.LockWait = 30 * time.Second
	}
	if o.WaitMin > 0 && o.WaitMax <= 0 {
		o.WaitMax = 4 * o.WaitMin
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

type daemon struct {
	o    Options
	log  *slog.Logger
	cfg  *Config
	snap *snapshot.Snapshot
	// readers maps a span of the snapshot to the bindings that read keys
	// in it.
	readers [][]*bindings.Binding
	// failed holds the bindings whose last cycle failed, to retry.
	failed map[string]bool
	// dirty holds the bindings whose keys changed (or whose cycle could
	// not run) and that still wait for a cycle; it outlives one watch, so
	// that a watch resumed after an error loses no pending work.
	dirty map[string]bool
	// states caches the state between cycles.
	states state.Cache
}

// Run runs the daemon until ctx ends. It returns an error only when the
// configuration cannot be loaded at start; everything later is logged and
// retried. A cycle in flight when ctx ends is finished first.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	cfg, err := o.Load()
	if err != nil {
		return err
	}
	d := &daemon{o: o, log: o.Logger, cfg: cfg, failed: map[string]bool{}, dirty: map[string]bool{}}
	d.log.Info("reconfig watch starting", "bindings", len(cfg.Set.Bindings), "state", o.StatePath)
	backoff := o.BackoffMin
	for ctx.Err() == nil {
		cli, err := o.Connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.log.Warn("etcd unreachable; no file is touched until it answers", "error", err.Error(), "retry_in", backoff.String())
			if !sleep(ctx, jitter(backoff)) {
				break
			}
			backoff = min(backoff*2, o.BackoffMax)
			continue
		}
		err = d.session(ctx, cli, &backoff)
		cli.Close()
		o.Metrics.setConnected(false)
		if ctx.Err() != nil {
			break
		}
		d.log.Warn("lost etcd; reconnecting", "error", errText(err), "retry_in", backoff.String())
		if !sleep(ctx, jitter(backoff)) {
			break
		}
		backoff = min(backoff*2, o.BackoffMax)
	}
	d.log.Info("reconfig watch stopped")
	return nil
}

// session runs on one client: snapshot, apply everything, watch; it
// returns when the client should be replaced.
func (d *daemon) session(ctx context.Context, cli *etcd.Client, backoff *time.Duration) error {
	for {
		snap, stats, err := cli.Snapshot(ctx, d.cfg.Set.Selectors())
		if err != nil {
			return err
		}
		d.setSnapshot(snap)
		d.o.Metrics.setConnected(true)
		*backoff = d.o.BackoffMin
		d.log.Info("snapshot taken", "revision", snap.Revision, "keys", stats.Keys, "round_trips", stats.RoundTrips)
		if d.cycle(ctx, nil) {
			clear(d.dirty)
		} else {
			// The cycle could not run (state lock held, state unusable):
			// the watch retries every binding shortly.
			for _, b := range d.cfg.Set.Bindings {
				d.dirty[b.ID] = true
			}
		}

		for {
			why, err := d.watch(ctx, cli)
			switch why {
			case stopDone:
				return nil
			case stopResnapshot:
				// A new snapshot on the same client.
			case stopRewatch:
				d.log.Warn("watch interrupted; resuming from the last revision", "error", errText(err), "revision", d.snap.Revision)
				if !sleep(ctx, jitter(*backoff)) {
					return nil
				}
				*backoff = min(*backoff*2, d.o.BackoffMax)
				continue
			case stopReconnect:
				return err
			}
			if why == stopResnapshot {
				if errors.Is(err, errCompacted) {
					d.log.Warn("taking a new snapshot", "reason", err.Error())
				} else {
					d.log.Info("taking a new snapshot", "reason", errText(err))
				}
				break
			}
		}
	}
}

// setSnapshot installs a snapshot and indexes which bindings read each of
// its spans.
func (d *daemon) setSnapshot(s *snapshot.Snapshot) {
	d.snap = s
	d.readers = make([][]*bindings.Binding, len(s.Spans))
	for _, b := range d.cfg.Set.Bindings {
		for _, sel := range b.Selectors() {
			for _, i := range s.SpansOf(sel) {
				if !slices.Contains(d.readers[i], b) {
					d.readers[i] = append(d.readers[i], b)
				}
			}
		}
	}
}

type stop int

const (
	stopDone       stop = iota // ctx ended
	stopResnapshot             // compaction, resync, new configuration
	stopRewatch                // the watch failed; resume it on this client
	stopReconnect              // the client looks dead
)

var (
	errStuck     = errors.New("the watch stream answered no progress request")
	errCompacted = errors.New("revision compacted")
)

// watch follows the stream and runs cycles until something needs a new
// snapshot, watch or client.
func (d *daemon) watch(ctx context.Context, cli *etcd.Client) (stop, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := cli.Watch(wctx, d.snap.Spans)
	o := d.o

	var first time.Time
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	progress := time.NewTicker(o.ProgressInterval)
	defer progress.Stop()
	resync := time.NewTimer(o.Resync)
	defer resync.Stop()
	var retry <-chan time.Time
	if len(d.dirty) > 0 {
		// Work left by the previous watch or a cycle that could not run.
		retry = time.After(jitter(time.Second))
	}
	lastHeard, asked := time.Now(), time.Time{}

	schedule := func() {
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if o.WaitMin <= 0 {
			return
		}
		due := min(o.WaitMin, time.Until(first.Add(o.WaitMax)))
		quiet.Reset(max(due, 0))
	}
	run := func() {
		ids := d.dirty
		d.dirty, first = map[string]bool{}, time.Time{}
		quiet.Stop()
		if !d.cycle(ctx, ids) {
			// The cycle could not run (lock held, state unusable): keep the
			// work and try again shortly.
			for id := range ids {
				d.dirty[id] = true
			}
			retry = time.After(jitter(time.Second))
		}
	}
	take := func(b etcd.Batch) (stop, error, bool) {
		lastHeard, asked = time.Now(), time.Time{}
		if b.Err != nil {
			if errors.Is(b.Err, etcd.ErrCompacted) {
				return stopResnapshot, fmt.Errorf("%w (oldest kept: %d)", errCompacted, b.CompactRevision), false
			}
			return stopRewatch, b.Err, false
		}
		if len(b.Events) == 0 {
			d.log.Debug("watch progress", "span", b.Span, "revision", b.Revision)
			d.snap.Progress(b.Span, b.Revision)
			return 0, nil, true
		}
		if o.Metrics != nil {
			o.Metrics.events.Add(float64(len(b.Events)))
		}
		changed := d.snap.ApplySpan(b.Span, b.Events)
		for _, key := range changed {
			for _, bd := range d.readers[b.Span] {
				if bd.Reads(key) {
					d.dirty[bd.ID] = true
				}
			}
		}
		if len(d.dirty) > 0 {
			schedule()
		}
		return 0, nil, true
	}

	for {
		select {
		case <-ctx.Done():
			return stopDone, nil
		case b, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return stopDone, nil
				}
				return stopRewatch, errors.New("the watch stream closed")
			}
			if why, err, ok := take(b); !ok {
				return why, err
			}
			if o.WaitMin <= 0 && len(d.dirty) > 0 {
				// Take whatever else already arrived, then apply it all.
			drain:
				for {
					select {
					case b, ok := <-ch:
						if !ok {
							break drain
						}
						if why, err, ok := take(b); !ok {
							run()
							return why, err
						}
					default:
						break drain
					}
				}
				run()
			}
		case <-quiet.C:
			run()
		case <-retry:
			retry = nil
			if len(d.dirty) > 0 {
				run()
			}
		case <-progress.C:
			switch {
			case time.Since(lastHeard) < o.ProgressInterval:
			case asked.IsZero():
				asked = time.Now()
				if err := cli.RequestProgress(wctx); err != nil {
					d.log.Debug("progress request failed", "error", err.Error())
				}
			case time.Since(asked) > o.ProgressTimeout:
				return stopReconnect, errStuck
			}
		case <-resync.C:
			if len(d.dirty) > 0 {
				run()
			}
			return stopResnapshot, errors.New("periodic resync")
		case <-o.Reload:
			if d.reload() {
				return stopResnapshot, errors.New("configuration reloaded")
			}
		}
	}
}

// reload re-reads the configuration; a bad one is logged and the old set
// kept.
func (d *daemon) reload() bool {
	cfg, err := d.o.Load()
	if err != nil {
		d.log.Error("configuration reload failed; keeping the previous bindings", "error", err.Error())
		return false
	}
	d.cfg = cfg
	d.log.Info("configuration reloaded", "bindings", len(cfg.Set.Bindings))
	return true
}

// cycle plans and applies the bindings with the given ids (all when nil)
// under the state lock. It reports false when it could not run and should
// be retried.
func (d *daemon) cycle(parent context.Context, ids map[string]bool) bool {
	// A cycle in flight finishes even when the daemon is told to stop.
	ctx := context.WithoutCancel(parent)
	o := d.o
	set := d.cfg.Set
	if ids != nil {
		for id := range d.failed {
			if set.Get(id) != nil {
				ids[id] = true
			}
		}
		sub := &bindings.Set{Dir: set.Dir, TemplatesDir: set.TemplatesDir}
		for _, b := range set.Bindings {
			if ids[b.ID] {
				sub.Bindings = append(sub.Bindings, b)
			}
		}
		set = sub
	}
	if len(set.Bindings) == 0 {
		return true
	}
	report := func(c Cycle) {
		if o.OnCycle != nil {
			o.OnCycle(c)
		}
	}
	lock, err := state.Acquire(ctx, o.StatePath, "watch", o.LockWait)
	if err != nil {
		d.log.Warn("cycle postponed: cannot take the state lock", "error", err.Error())
		report(Cycle{Revision: d.snap.Revision, Err: err})
		return false
	}
	defer lock.Release()
	st, err := d.states.Load(o.StatePath)
	if err == nil {
		err = st.CheckCluster(o.StatePath, d.snap.ClusterID, o.Force)
	}
	if err != nil {
		d.log.Error("cycle skipped: the state cannot be used; no file is touched", "error", err.Error())
		report(Cycle{Revision: d.snap.Revision, Err: err})
		return false
	}

	start := time.Now()
	p := plan.Make(ctx, plan.Input{Set: set, Templates: d.cfg.Templates, Snapshot: d.snap, State: st, Partial: true})
	planned := time.Since(start)
	res := apply.Execute(ctx, p)
	// A cycle that records nothing new leaves the file as it is; the
	// cached state then runs ahead of it only in its revision, which the
	// next save writes.
	var saveErr error
	if res.Record(st, p, time.Now().UTC()) {
		saveErr = d.states.Save(st, o.StatePath)
	}
	applied := time.Since(start) - planned

	ok := !res.Failed() && saveErr == nil
	var errs []string
	for _, out := range res.Outcomes {
		d.logOutcome(out, p.Revision)
		if out.Failed() {
			d.failed[out.ID] = true
			errs = append(errs, out.ID)
		} else {
			delete(d.failed, out.ID)
		}
	}
	if saveErr != nil {
		d.log.Error("cannot record the state", "error", saveErr.Error())
		errs = append(errs, "state: "+saveErr.Error())
	}
	for _, rl := range res.Reloads {
		attrs := []any{"ids", strings.Join(rl.IDs, ","), "duration", rl.Result.Duration.String(), "output", rl.Result.Output}
		if rl.Result.Err != nil {
			d.log.Error("reload failed", append(attrs, "error", rl.Result.Err.Error())...)
		} else {
			d.log.Info("reloaded", attrs...)
		}
	}
	if o.Metrics != nil {
		d.countOutcomes(p, res)
		o.Metrics.cycleDone(p.Revision, ok, "failed: "+strings.Join(errs, ", "), planned, applied)
	}
	report(Cycle{Revision: p.Revision, Plan: p, Result: res})
	return true
}

func (d *daemon) logOutcome(out *apply.Outcome, rev int64) {
	attrs := []any{"id", out.ID, "target", out.Target, "revision", rev}
	switch {
	case out.Failed():
		if out.Check != nil && out.Check.Err != nil {
			attrs = append(attrs, "check_output", out.Check.Output)
		}
		d.log.Error("binding failed; it is retried on the next change and at the next resync", append(attrs, "error", errText(out.Err))...)
	case out.Action == plan.Skip:
		d.log.Warn("binding skipped; its target is left as it is", append(attrs, "reason", out.Reason())...)
	case out.Changed && len(out.Warnings()) > 0:
		d.log.Warn("target "+map[plan.Action]string{plan.Create: "created", plan.Update: "updated", plan.Delete: "deleted"}[out.Action], append(attrs, "warnings", out.Warnings())...)
	case out.Changed:
		d.log.Info("target "+map[plan.Action]string{plan.Create: "created", plan.Update: "updated", plan.Delete: "deleted"}[out.Action], attrs...)
	}
}

func (d *daemon) countOutcomes(p *plan.Plan, res *apply.Result) {
	m := d.o.Metrics
	for _, out := range res.Outcomes {
		switch {
		case out.Action == plan.Skip:
			reason := "missing_key"
			if strings.Contains(out.Reason(), "no keys under") {
				reason = "empty_prefix"
			}
			m.skipped.WithLabelValues(reason).Inc()
		case out.Action == plan.Fail:
			m.failures.WithLabelValues("render").Inc()
		case out.Failed() && out.Check != nil && out.Check.Err != nil:
			m.failures.WithLabelValues("check").Inc()
		case out.Failed() && out.Reload != nil && out.Reload.Err != nil:
			m.failures.WithLabelValues("reload").Inc()
		case out.Failed():
			m.failures.WithLabelValues("write").Inc()
		case out.Changed:
			m.applies.WithLabelValues(string(out.Action)).Inc()
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads retries of a fleet by ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

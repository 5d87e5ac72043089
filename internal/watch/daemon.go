package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
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
	// the daemon asks etcd for a progress notification (default 5s);
	// ProgressTimeout is how long it then waits for an answer before it
	// calls etcd lost and reconnects (default 5s).
	ProgressInterval, ProgressTimeout time.Duration
	// ConnectionGrace is how long the connection to etcd may be down
	// before the daemon reports it lost (default 1s): the etcd client
	// reconnects by itself, and a blip is not an outage.
	ConnectionGrace time.Duration
	// BackoffMin and BackoffMax bound the retry delay after etcd failures
	// and after cycles that could not run (state lock held, state
	// unusable).
	BackoffMin, BackoffMax time.Duration
	// RetryMin and RetryMax bound the delay before a failed binding is
	// tried again (default 1s doubling to 5m), in a cycle of its own; a
	// change of its keys and the resync try it too.
	RetryMin, RetryMax time.Duration
	// LockWait is how long a cycle waits for a state lock held by another
	// reconfig before it tries again later.
	LockWait time.Duration
	// ShowCommands shows check and reload commands without running them
	// (`reconfig dev` on an operator's bindings).
	ShowCommands bool
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
		o.ProgressInterval = 5 * time.Second
	}
	if o.ProgressTimeout <= 0 {
		o.ProgressTimeout = 5 * time.Second
	}
	if o.ConnectionGrace <= 0 {
		o.ConnectionGrace = time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Minute
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
	// dirty holds the bindings whose keys changed and that wait for a
	// cycle; full asks for a cycle of every binding (a new snapshot). Both
	// outlive one watch, so a watch resumed after an error loses no work.
	dirty map[string]bool
	full  bool
	// quiet is the quiescence of the pending changes (--wait); it goes
	// with dirty, beyond one watch.
	quiet quiescence
	// retries holds the bindings whose last cycle failed, each tried
	// again on its own schedule.
	retries map[string]*retry
	// blockedUntil holds every cycle back after one could not run (the
	// state unusable, its lock held); blockStep is the next delay. A
	// state file replaced meanwhile (blockedStamp is how it was) ends the
	// wait at once: an operator fixed it.
	blockedUntil time.Time
	blockStep    time.Duration
	blockedStamp atomicfile.Stamp
	// failing maps each key range that cannot be watched to why.
	failing map[string]string
	// outage is the etcd failure being reported, "" while all is well:
	// an outage is logged once, its end once.
	outage string
	// link follows the connection of the session's client; disconnected
	// is what the loop last learned from it: no cycle runs while etcd is
	// gone.
	link         *link
	disconnected bool
	// held is a render kept while cycles are held back, for the next try
	// of the same bindings at the same revision.
	held   *heldRender
	states state.Cache
}

// idsOf names a set of bindings by their ids.
func idsOf(set *bindings.Set) string {
	ids := make([]string, len(set.Bindings))
	for i, b := range set.Bindings {
		ids[i] = b.ID
	}
	return strings.Join(ids, "\x00")
}

// heldRender is the render of a cycle that could not take the lock or use
// the state: nothing of it was compared or written.
type heldRender struct {
	cfg      *Config
	revision int64
	ids      string
	rendered map[string]*plan.Change
}

// retry is the schedule of a failed binding.
type retry struct {
	attempts int
	due      time.Time
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
	d := &daemon{o: o, log: o.Logger, cfg: cfg, dirty: map[string]bool{}, retries: map[string]*retry{},
		quiet: quiescence{min: o.WaitMin, max: o.WaitMax}}
	d.log.Info("reconfig watch starting", "bindings", len(cfg.Set.Bindings), "state", o.StatePath)
	backoff := o.BackoffMin
	for ctx.Err() == nil {
		cli, err := o.Connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.lost("etcd unreachable; no file is touched until it answers", err, "retry_in", backoff.String())
			if !sleep(ctx, jitter(backoff)) {
				break
			}
			backoff = min(backoff*2, o.BackoffMax)
			continue
		}
		err = d.session(ctx, cli, &backoff)
		cli.Close()
		if ctx.Err() != nil {
			break
		}
		d.lost("lost etcd; reconnecting", err, "retry_in", backoff.String())
		if !sleep(ctx, jitter(backoff)) {
			break
		}
		backoff = min(backoff*2, o.BackoffMax)
	}
	d.log.Info("reconfig watch stopped")
	return nil
}

// lost reports an etcd failure: the first of an outage as a warning, the
// retries that follow only with --debug. Health says so at once.
func (d *daemon) lost(msg string, err error, attrs ...any) {
	why := msg
	if err != nil {
		why += ": " + err.Error()
		attrs = append([]any{"error", err.Error()}, attrs...)
	}
	d.o.Metrics.setConnected(false, why)
	level := slog.LevelWarn
	if d.outage != "" {
		level = slog.LevelDebug
	}
	d.log.Log(context.Background(), level, msg, attrs...)
	d.outage = msg
}

// recovered ends an outage.
func (d *daemon) recovered() {
	if d.outage != "" {
		d.log.Info("etcd answers again", "after", d.outage)
		d.outage = ""
	}
}

// session runs on one client: snapshot, apply everything, watch; it
// returns when the client should be replaced.
func (d *daemon) session(ctx context.Context, cli *etcd.Client, backoff *time.Duration) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.disconnected = false
	d.link = newLink(sctx, cli, d.o.ConnectionGrace, d.o.Metrics)
	for {
		snap, stats, err := cli.Snapshot(ctx, d.cfg.Set.Selectors())
		if err != nil {
			return err
		}
		d.setSnapshot(snap)
		*backoff = d.o.BackoffMin
		d.recovered()
		d.log.Info("snapshot taken", "revision", snap.Revision, "keys", stats.Keys, "round_trips", stats.RoundTrips)
		d.full = true

		for {
			why, err := d.follow(sctx, cli)
			if why == stopDone {
				return nil
			}
			if why == stopReconnect {
				return err
			}
			if why == stopResnapshot {
				if errors.Is(err, errCompacted) || errors.Is(err, errOtherEtcd) {
					d.log.Warn("taking a new snapshot", "reason", err.Error())
				} else {
					d.log.Info("taking a new snapshot", "reason", errText(err))
				}
				break
			}
			// stopRewatch: resume on this client from the last revision.
			d.log.Warn("watch interrupted; resuming from the last revision", "error", errText(err), "revision", d.snap.Revision)
			if !sleep(ctx, jitter(*backoff)) {
				return nil
			}
			*backoff = min(*backoff*2, d.o.BackoffMax)
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
	d.failing = map[string]string{}
	d.o.Metrics.setRanges(d.failing)
}

type stop int

const (
	stopNone       stop = iota
	stopDone            // ctx ended
	stopResnapshot      // compaction, resync, new configuration, a range that could not be watched
	stopRewatch         // the watch failed; resume it on this client
	stopReconnect       // the client looks dead
)

var (
	errStuck     = errors.New("etcd did not answer a progress request on the watch stream")
	errCompacted = errors.New("revision compacted")
	errOtherEtcd = errors.New("another etcd answers")
)

// follow watches the snapshot's spans on one stream and runs cycles until
// something needs a new snapshot, watch or client.
func (d *daemon) follow(ctx context.Context, cli *etcd.Client) (stop, error) {
	o := d.o
	s := cli.Watch(ctx, d.snap.Spans, o.Metrics.received)
	defer s.Close()
	ready := s.Ready()
	// Liveness is proved by the stream's answers: only a stream that
	// watches something can give them.
	live := newLiveness(o.ProgressInterval, o.ProgressTimeout, watching(d.snap.Spans))
	defer live.stop()
	resync := time.NewTimer(o.Resync)
	defer resync.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	var resnapshot <-chan time.Time // a range could not be watched
	if !d.disconnected {
		o.Metrics.setConnected(true, "")
	}

	// take applies what arrived on the stream to the snapshot; heard
	// tells whether anything did.
	take := func() (why stop, err error, heard bool) {
		bs, open := s.Take()
		if len(bs) > 0 {
			live.heard()
		}
		for _, b := range bs {
			if why, err := d.take(b); why != stopNone {
				return why, err, true
			}
		}
		if !open {
			ready = nil
			live.stop()
			if len(d.failing) == 0 {
				return stopRewatch, errors.New("the watch stream closed"), true
			}
		}
		if len(d.failing) > 0 && resnapshot == nil {
			resnapshot = time.After(jitter(o.BackoffMax))
		}
		return stopNone, nil, len(bs) > 0
	}

	for {
		if !d.disconnected {
			due := d.next()
			if !due.IsZero() && !due.After(time.Now()) {
				// Everything that arrived until now goes into the cycle.
				if why, err, _ := take(); why != stopNone {
					return why, err
				}
				d.runDue(ctx)
				continue
			}
			switch {
			case due.IsZero():
			case time.Now().Before(d.blockedUntil):
				// Look at the state file again in a second.
				wake.Reset(min(time.Until(due), time.Second))
			default:
				wake.Reset(time.Until(due))
			}
		}
		select {
		case <-ctx.Done():
			return stopDone, nil
		case <-ready:
			if why, err, _ := take(); why != stopNone {
				return why, err
			}
		case <-wake.C:
		case <-live.timer.C:
			// An answer may be waiting behind a long cycle: take it first.
			why, err, heard := take()
			if why != stopNone {
				return why, err
			}
			if heard || !live.on {
				continue
			}
			if !live.expired() {
				// Ask off the loop: a request waits while the client
				// reconnects.
				go func() {
					if err := cli.RequestProgress(s.Context()); err != nil {
						d.log.Debug("progress request failed", "error", err.Error())
					}
				}()
				continue
			}
			return stopReconnect, fmt.Errorf("%w within %s", errStuck, o.ProgressTimeout)
		case <-d.link.changes:
			switch down := d.link.isDown(); {
			case down && !d.disconnected:
				d.disconnected = true
				d.lost(lostConnection, nil)
			case !down && d.disconnected:
				d.disconnected = false
				d.recovered()
				o.Metrics.setConnected(true, "")
			}
		case <-resnapshot:
			return stopResnapshot, errors.New("some key ranges could not be watched")
		case <-resync.C:
			return stopResnapshot, errors.New("periodic resync")
		case <-o.Reload:
			if d.reload() {
				return stopResnapshot, errors.New("configuration reloaded")
			}
		}
	}
}

// watching reports whether any of the spans is watched (not Denied).
func watching(spans []snapshot.Span) bool {
	for _, sp := range spans {
		if !sp.Denied {
			return true
		}
	}
	return false
}

// take applies one batch of the stream to the snapshot and marks the
// bindings that read a changed key.
func (d *daemon) take(b etcd.Batch) (stop, error) {
	if b.Err != nil {
		switch {
		case errors.Is(b.Err, etcd.ErrCompacted):
			return stopResnapshot, fmt.Errorf("%w (oldest kept: %d)", errCompacted, b.CompactRevision)
		case errors.Is(b.Err, etcd.ErrPermissionDenied):
			// The other ranges go on; this one waits for a new snapshot.
			r := d.snap.Spans[b.Span].Describe()
			if _, known := d.failing[r]; !known {
				d.log.Error("cannot watch a key range; its changes wait for the next snapshot", "range", r, "error", b.Err.Error())
			}
			d.failing[r] = b.Err.Error()
			d.o.Metrics.setRanges(d.failing)
			return stopNone, nil
		}
		return stopRewatch, b.Err
	}
	// The etcd client reconnects and resumes its watches by itself, also
	// to another etcd that came up on the same endpoint: a new cluster,
	// or the same one started over (an empty data dir, an older backup),
	// whose history restarts below what the snapshot has seen. Its
	// events are not news to this snapshot: read it afresh.
	if b.ClusterID != d.snap.ClusterID {
		return stopResnapshot, fmt.Errorf("%w: cluster %s, not %s", errOtherEtcd, b.ClusterID, d.snap.ClusterID)
	}
	seen := d.snap.Spans[b.Span].Rev
	if seen == 0 {
		seen = d.snap.Revision
	}
	if b.Revision < seen {
		return stopResnapshot, fmt.Errorf("%w: its revision %d is below %d, already seen (restarted or restored from a backup?)", errOtherEtcd, b.Revision, seen)
	}
	if len(b.Events) == 0 {
		d.log.Debug("watch progress", "span", b.Span, "revision", b.Revision)
		d.snap.Progress(b.Span, b.Revision)
		return stopNone, nil
	}
	changed := d.snap.ApplySpan(b.Span, b.Events)
	for _, key := range changed {
		for _, bd := range d.readers[b.Span] {
			if bd.Reads(key) {
				d.dirty[bd.ID] = true
			}
		}
	}
	if len(changed) > 0 {
		d.quiet.changed(time.Now())
	}
	return stopNone, nil
}

// next is when the next cycle is due: the pending changes once quiet, the
// earliest retry of a failed binding, never before a blocked cycle may
// run again. Zero: nothing to do.
func (d *daemon) next() time.Time {
	var due time.Time
	switch {
	case d.full:
		due = time.Now()
	case len(d.dirty) > 0:
		due = d.quiet.due()
	}
	for _, r := range d.retries {
		if due.IsZero() || r.due.Before(due) {
			due = r.due
		}
	}
	if now := time.Now(); now.Before(d.blockedUntil) && atomicfile.StampAt(d.o.StatePath) != d.blockedStamp {
		d.blockedUntil = now
	}
	if !due.IsZero() && due.Before(d.blockedUntil) {
		due = d.blockedUntil
	}
	return due
}

// runDue runs the cycles that are due: the pending changes (or a full
// cycle), then, in a cycle of their own, the failed bindings whose retry
// is due.
func (d *daemon) runDue(ctx context.Context) {
	now := time.Now()
	if d.full || (len(d.dirty) > 0 && !d.quiet.due().After(now)) {
		var ids map[string]bool // nil: every binding
		if !d.full {
			ids = d.dirty
		}
		d.dirty, d.full = map[string]bool{}, false
		pending := d.quiet
		d.quiet.reset()
		if !d.runCycle(ctx, ids) {
			// Keep the work for when cycles may run again, and when it
			// became due: without that, pending changes have no due time
			// and wait for the next change or the resync.
			if ids == nil {
				d.full = true
			}
			for id := range ids {
				d.dirty[id] = true
			}
			d.quiet = pending
			return
		}
	}
	due := map[string]bool{}
	for id, r := range d.retries {
		if !r.due.After(now) {
			due[id] = true
		}
	}
	if len(due) > 0 {
		d.runCycle(ctx, due)
	}
}

// runCycle runs one cycle and keeps the schedules: a cycle that could not
// run holds every cycle back, with growing delays; failed bindings are
// tried again later.
func (d *daemon) runCycle(ctx context.Context, ids map[string]bool) bool {
	// A binding removed by a reload is not tried again.
	for id := range d.retries {
		if d.cfg.Set.Get(id) == nil {
			delete(d.retries, id)
			delete(ids, id)
		}
	}
	d.o.Metrics.setFailing(slices.Sorted(maps.Keys(d.retries)))
	res, err := d.cycle(ctx, ids)
	if err != nil {
		d.blockStep = max(d.blockStep, d.o.BackoffMin)
		wait := jitter(d.blockStep)
		d.blockedUntil = time.Now().Add(wait)
		d.blockedStamp = atomicfile.StampAt(d.o.StatePath)
		d.blockStep = min(d.blockStep*2, d.o.BackoffMax)
		d.log.Error("cycle skipped: no file is touched; it is tried again", "error", err.Error(), "retry_in", wait.Round(time.Millisecond).String())
		d.o.Metrics.setBlocked("cycles cannot run: " + err.Error())
		return false
	}
	if d.blockStep > 0 {
		d.log.Info("cycles run again")
		d.blockStep, d.blockedUntil = 0, time.Time{}
		d.o.Metrics.setBlocked("")
	}
	if res == nil {
		return true
	}
	now := time.Now()
	for _, out := range res.Outcomes {
		if !out.Failed() {
			delete(d.retries, out.ID)
			continue
		}
		r := d.retries[out.ID]
		if r == nil {
			r = &retry{}
			d.retries[out.ID] = r
		}
		r.attempts++
		r.due = now.Add(jitter(min(d.o.RetryMin<<min(r.attempts-1, 20), d.o.RetryMax)))
	}
	d.o.Metrics.setFailing(slices.Sorted(maps.Keys(d.retries)))
	return true
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
// under the state lock. Its error says why it could not run (the state
// lock held, the state unusable); it is then to be run again later.
func (d *daemon) cycle(parent context.Context, ids map[string]bool) (*apply.Result, error) {
	o := d.o
	set := d.cfg.Set
	if ids != nil {
		sub := &bindings.Set{Dir: set.Dir, TemplatesDir: set.TemplatesDir}
		for _, b := range set.Bindings {
			if ids[b.ID] {
				sub.Bindings = append(sub.Bindings, b)
			}
		}
		set = sub
	}
	if len(set.Bindings) == 0 {
		return nil, nil
	}
	// Render first, without the lock: a slow or runaway template holds
	// no cron apply, and stopping the daemon stops it. Nothing is written
	// until the lock is held. A render held back with a cycle that could
	// not run is used again for the same bindings at the same revision.
	start := time.Now()
	key := idsOf(set)
	var rendered map[string]*plan.Change
	if h := d.held; h != nil && h.cfg == d.cfg && h.revision == d.snap.Revision && h.ids == key {
		rendered = h.rendered
	} else {
		rendered = plan.Render(parent, set, d.cfg.Templates, d.snap)
	}
	d.held = nil
	renderTime := time.Since(start)
	if parent.Err() != nil {
		return nil, nil
	}
	report := func(c Cycle) {
		if c.Err != nil {
			// Nothing of the render was compared or written.
			d.held = &heldRender{cfg: d.cfg, revision: d.snap.Revision, ids: key, rendered: rendered}
		}
		if o.OnCycle != nil {
			o.OnCycle(c)
		}
	}
	lock, err := state.Acquire(parent, o.StatePath, "watch", o.LockWait)
	if err != nil && parent.Err() != nil {
		return nil, nil
	}
	// From here the cycle finishes even when the daemon is told to stop.
	ctx := context.WithoutCancel(parent)
	if err != nil {
		err = fmt.Errorf("cannot take the state lock: %w", err)
		report(Cycle{Revision: d.snap.Revision, Err: err})
		return nil, err
	}
	defer lock.Release()
	recovered, err := apply.Recover(o.StatePath)
	for _, r := range recovered {
		d.log.Warn("an interrupted apply left a target unchecked", "id", r.ID, "target", r.Target, "done", r.Note)
	}
	if err != nil {
		err = fmt.Errorf("cannot finish an interrupted apply: %w", err)
		report(Cycle{Revision: d.snap.Revision, Err: err})
		return nil, err
	}
	st, err := d.states.Load(o.StatePath)
	if err == nil {
		err = st.CheckCluster(o.StatePath, d.snap.ClusterID, o.Force)
	}
	if err != nil {
		err = fmt.Errorf("the state cannot be used: %w", err)
		report(Cycle{Revision: d.snap.Revision, Err: err})
		return nil, err
	}

	start = time.Now()
	p := plan.Make(ctx, plan.Input{Set: set, Templates: d.cfg.Templates, Snapshot: d.snap, State: st, Partial: true, Rendered: rendered})
	planned := renderTime + time.Since(start)
	start = time.Now()
	res := apply.Execute(ctx, p, apply.Options{Journal: state.JournalPath(o.StatePath), ShowCommands: o.ShowCommands})
	// A cycle that records nothing new leaves the file as it is; the
	// cached state then runs ahead of it only in its revision, which the
	// next save writes.
	var saveErr error
	if res.Record(st, p, time.Now().UTC()) {
		saveErr = d.states.Save(st, o.StatePath)
	}
	applied := time.Since(start)

	for _, out := range res.Outcomes {
		d.logOutcome(out, p.Revision)
	}
	saved := ""
	if saveErr != nil {
		d.log.Error("cannot record the state", "error", saveErr.Error())
		saved = saveErr.Error()
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
		o.Metrics.cycleDone(p.Revision, !res.Failed() && saveErr == nil, saved, planned, applied)
	}
	report(Cycle{Revision: p.Revision, Plan: p, Result: res})
	return res, nil
}

func (d *daemon) logOutcome(out *apply.Outcome, rev int64) {
	attrs := []any{"id", out.ID, "target", out.Target, "revision", rev}
	switch {
	case out.Failed():
		if out.Check != nil && out.Check.Err != nil {
			attrs = append(attrs, "check_output", out.Check.Output)
		}
		d.log.Error("binding failed; it is tried again on its own schedule, on a change of its keys and at the next resync", append(attrs, "error", errText(out.Err))...)
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
			m.skipped.WithLabelValues(string(out.Skipped())).Inc()
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

// quiescence is --wait MIN:MAX: pending changes are due MIN after the
// last one, but no later than MAX after the first.
type quiescence struct {
	min, max    time.Duration
	first, last time.Time
}

func (q *quiescence) changed(now time.Time) {
	if q.first.IsZero() {
		q.first = now
	}
	q.last = now
}

// due is when the pending changes may be applied (at once without --wait).
func (q *quiescence) due() time.Time {
	if q.min <= 0 || q.first.IsZero() {
		return q.first
	}
	return minTime(q.last.Add(q.min), q.first.Add(q.max))
}

func (q *quiescence) reset() { q.first, q.last = time.Time{}, time.Time{} }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// liveness proves the watch stream alive: after interval without a word
// from etcd it asks for a progress notification, and an answer must come
// within timeout. It is on only while the stream watches something.
type liveness struct {
	interval, timeout time.Duration
	timer             *time.Timer
	asked             bool
	on                bool
}

func newLiveness(interval, timeout time.Duration, on bool) *liveness {
	l := &liveness{interval: interval, timeout: timeout, timer: time.NewTimer(interval), on: on}
	if !on {
		l.timer.Stop()
	}
	return l
}

// heard records a word from etcd.
func (l *liveness) heard() {
	l.asked = false
	if l.on {
		l.timer.Reset(l.interval)
	}
}

// expired is called when the timer fires: the first time the caller is to
// ask for progress (false); the second, without a word in between, the
// stream is dead (true).
func (l *liveness) expired() bool {
	if l.asked {
		return true
	}
	l.asked = true
	l.timer.Reset(l.timeout)
	return false
}

// stop turns the check off: the stream watches nothing any more.
func (l *liveness) stop() {
	l.on = false
	l.timer.Stop()
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

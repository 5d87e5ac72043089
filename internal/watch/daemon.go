package watch

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// Options configure the daemon.
type Options struct {
	// Load reads the bindings and templates, at start and on Reload.
	Load func() (*engine.Config, error)
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
	// Fleet, when set, makes the daemon a member of a fleet (watch
	// --fleet).
	Fleet *FleetOptions
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
	cfg  *engine.Config
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
	// locker takes the state lock for each cycle; the lock file stays
	// open between cycles.
	locker *state.Locker
	// fleet is the daemon's part in a fleet (nil without --fleet);
	// pendingFrom is the revision of the oldest change not yet applied
	// (0: none), below which the host is at.
	fleet       *member
	pendingFrom int64
	// pendingTo is the revision of the newest change not yet applied.
	pendingTo int64
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
		quiet: quiescence{min: o.WaitMin, max: o.WaitMax}, locker: state.NewLocker(o.StatePath, "watch")}
	defer d.locker.Close()
	if o.Fleet != nil {
		if o.Metrics == nil {
			// The status reports the daemon's health.
			o.Metrics = NewMetrics()
			d.o.Metrics = o.Metrics
		}
		if err := checkFleetKeys(o.Fleet.Keys, cfg.Set); err != nil {
			return err
		}
		if d.fleet, err = newMember(*o.Fleet); err != nil {
			return err
		}
		d.log.Info("reconfig watch starting", "bindings", len(cfg.Set.Bindings), "state", o.StatePath,
			"fleet", o.Fleet.Keys.Prefix(), "name", o.Fleet.Name, "group", o.Fleet.Group)
	} else {
		d.log.Info("reconfig watch starting", "bindings", len(cfg.Set.Bindings), "state", o.StatePath)
	}
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
		if d.fleet != nil && ctx.Err() != nil {
			d.fleet.leave(cli)
		}
		cli.Close()
		if ctx.Err() != nil {
			break
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			d.log.Info("reconfig watch stopped")
			return fatal.err
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
	if d.fleet != nil {
		if err := d.fleet.join(sctx, cli, d.o.Metrics, d.log); err != nil {
			return err
		}
	}
	for {
		snap, stats, err := cli.Snapshot(ctx, d.selectors())
		if err != nil {
			return err
		}
		d.setSnapshot(snap)
		*backoff = d.o.BackoffMin
		d.recovered()
		d.log.Info("snapshot taken", "revision", snap.Revision, "keys", stats.Keys, "round_trips", stats.RoundTrips)
		d.full = true

		for {
			h := d.follow(sctx, cli)
			if h.next == stopDone {
				return nil
			}
			if h.next == stopReconnect {
				return h.err
			}
			if h.next == stopResnapshot {
				if errors.Is(h.err, errCompacted) || errors.Is(h.err, errOtherEtcd) {
					d.log.Warn("taking a new snapshot", "reason", h.err.Error())
				} else {
					d.log.Info("taking a new snapshot", "reason", errText(h.err))
				}
				break
			}
			// stopRewatch: resume on this client from the last revision.
			if ctx.Err() != nil {
				// Told to stop: the watch ended because of it.
				return nil
			}
			d.log.Warn("watch interrupted; resuming from the last revision", "error", errText(h.err), "revision", d.snap.Revision)
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
	d.readFleet()
}

// selectors are the keys the daemon reads: its bindings', and with
// --fleet the fleet keys it follows.
func (d *daemon) selectors() []snapshot.Selector {
	sels := d.cfg.Set.Selectors()
	if d.fleet != nil {
		sels = append(sels, d.fleet.selectors()...)
	}
	return sels
}

// reload re-reads the configuration; a bad one is logged and the old set
// kept.
func (d *daemon) reload() bool {
	cfg, err := d.o.Load()
	if err == nil && d.fleet != nil {
		err = checkFleetKeys(d.fleet.o.Keys, cfg.Set)
	}
	if err != nil {
		d.log.Error("configuration reload failed; keeping the previous bindings", "error", err.Error())
		return false
	}
	d.cfg = cfg
	d.log.Info("configuration reloaded", "bindings", len(cfg.Set.Bindings))
	return true
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

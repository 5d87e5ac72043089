package watch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
)

// heldRender is the render of a cycle that could not take the lock or use
// the state: nothing of it was compared or written.
type heldRender struct {
	cfg      *engine.Config
	revision int64
	ids      string
	rendered map[string]*plan.Change
}

// idsOf names a set of bindings by their ids.
func idsOf(set *bindings.Set) string {
	ids := make([]string, len(set.Bindings))
	for i, b := range set.Bindings {
		ids[i] = b.ID
	}
	return strings.Join(ids, "\x00")
}

// retry is the schedule of a failed binding.
type retry struct {
	attempts int
	due      time.Time
}

// next is when the next cycle is due: the pending changes once quiet, the
// earliest retry of a failed binding, never before a blocked cycle may
// run again. Zero: nothing to do.
func (d *daemon) next() time.Time {
	if d.fleet.held() != "" {
		// The fleet is held: the snapshot stays current, nothing is
		// applied until the hold is released.
		return time.Time{}
	}
	if d.fleet.following() {
		return d.nextFollow()
	}
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
func (d *daemon) runDue(ctx context.Context, cli *etcd.Client) {
	if d.fleet.following() {
		d.runFollow(ctx, cli)
		d.updateHeld()
		return
	}
	now := time.Now()
	if d.full || (len(d.dirty) > 0 && !d.quiet.due().After(now)) {
		var ids map[string]bool // nil: every binding
		if !d.full {
			ids = d.dirty
		}
		d.dirty, d.full = map[string]bool{}, false
		pending, pendingFrom, pendingTo := d.quiet, d.pendingFrom, d.pendingTo
		d.quiet.reset()
		d.pendingFrom, d.pendingTo = 0, 0
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
			d.quiet, d.pendingFrom, d.pendingTo = pending, pendingFrom, pendingTo
			return
		}
		if ids == nil {
			// A full cycle rendered every binding from a new snapshot:
			// hand its garbage back to the system now, so an idle daemon
			// stays small instead of keeping its start-up peak. Two
			// collections: the parsed templates the renders left in their
			// pools survive the first (sync.Pool keeps them one more).
			runtime.GC()
			debug.FreeOSMemory()
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

// cycle plans and applies the bindings with the given ids (all when nil):
// it renders them from the snapshot, then runs the engine's apply cycle
// under the state lock. Its error says why the cycle could not run (the
// state lock held, the state unusable); it is then to be run again later.
func (d *daemon) cycle(ctx context.Context, ids map[string]bool) (*apply.Result, error) {
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
	src := d.source()
	if h := d.held; h != nil && h.cfg == d.cfg && h.revision == src.Revision && h.ids == key {
		rendered = h.rendered
	} else {
		rendered = plan.Render(ctx, set, d.cfg.Templates, src)
	}
	d.held = nil
	renderTime := time.Since(start)
	if ctx.Err() != nil {
		return nil, nil
	}

	snap := src
	run, err := engine.Apply(ctx, engine.Request{
		StatePath: d.o.StatePath, Config: d.cfg, Set: set, Partial: true, Force: d.o.Force,
		Snapshot: func(context.Context) (*snapshot.Snapshot, error) { return snap, nil },
		Rendered: rendered, Holder: "watch", Locker: d.locker, LockWait: d.o.LockWait, ShowCommands: d.o.ShowCommands,
		States: &d.states,
	})
	for _, r := range run.Recovered {
		d.log.Warn("an interrupted apply left a target unchecked", "id", r.ID, "target", r.Target, "done", r.Note)
	}
	if err != nil {
		var blocked *engine.Blocked
		if errors.As(err, &blocked) {
			if blocked.Step == engine.StepLock && ctx.Err() != nil {
				// Told to stop while it waited for the lock.
				return nil, nil
			}
			err = fmt.Errorf("%s: %w", blocked.Step, blocked.Err)
		}
		// Nothing of the render was compared or written.
		d.held = &heldRender{cfg: d.cfg, revision: snap.Revision, ids: key, rendered: rendered}
		d.report(Cycle{Revision: snap.Revision, Err: err})
		return nil, err
	}
	d.logRun(run, renderTime)
	if d.fleet != nil {
		d.fleet.record(run.Result, run.Plan.Revision, d.cfg.Set)
	}
	d.report(Cycle{Revision: run.Plan.Revision, Plan: run.Plan, Result: run.Result})
	return run.Result, nil
}

func (d *daemon) report(c Cycle) {
	if d.o.OnCycle != nil {
		d.o.OnCycle(c)
	}
}

// logRun logs and counts what a cycle did.
func (d *daemon) logRun(run *engine.Run, renderTime time.Duration) {
	p, res := run.Plan, run.Result
	for _, out := range res.Outcomes {
		d.logOutcome(out, p.Revision)
	}
	saved := ""
	if run.SaveErr != nil {
		d.log.Error("cannot record the state", "error", run.SaveErr.Error())
		saved = run.SaveErr.Error()
	}
	for _, rl := range res.Reloads {
		attrs := []any{"ids", strings.Join(rl.IDs, ","), "duration", rl.Result.Duration.String(), "output", rl.Result.Output}
		if rl.Result.Err != nil {
			d.log.Error("reload failed", append(attrs, "error", rl.Result.Err.Error())...)
		} else {
			d.log.Info("reloaded", attrs...)
		}
	}
	if d.o.Metrics != nil {
		d.countOutcomes(res)
		d.o.Metrics.cycleDone(p.Revision, !res.Failed() && run.SaveErr == nil, saved, renderTime+run.PlanTime, run.ApplyTime)
	}
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

func (d *daemon) countOutcomes(res *apply.Result) {
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

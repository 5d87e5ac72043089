package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// FollowOptions make a --fleet daemon a follower of a canary group (watch
// --follow GROUP): it applies a revision only once the group's hosts
// applied it and stayed healthy.
type FollowOptions struct {
	// Group is the followed group.
	Group string
	// Min is how many live hosts of the group must vouch for a revision
	// (default 1).
	Min int
	// Bake is how long they must have been at it, healthy.
	Bake time.Duration
}

// canary is what a follower knows of one host of the followed group.
type canary struct {
	brief fleet.Brief
	// impossible says why the brief cannot be an honest host's (it claims
	// a revision etcd has not reached): such a host vouches for nothing
	// and holds the gate like a failed one ("" when it is believable).
	impossible string
	// failed is set while the host fails (or its brief is impossible):
	// the revision it is next seen healthy at becomes the gate's floor.
	failed bool
	// healthy is when the follower first saw the host healthy in its
	// current healthy stretch (zero: not healthy now).
	healthy time.Time
	// reached lists the revisions the host reported while healthy, each
	// with when the follower first saw it at it, oldest first; only the
	// newest one that has baked and those still baking are kept.
	reached []reached
}

type reached struct {
	at   int64
	seen time.Time
}

// gate is a follower's view of its canaries.
type gate struct {
	o        FollowOptions
	canaries map[string]*canary
	promote  *fleet.Promote
	// rev is the gate: the newest revision the canaries vouch for, or a
	// promotion allows. It never moves back.
	rev int64
	// reason says why the gate holds a change back.
	reason string
	// applied is the gate revision last applied in full (0: none yet);
	// snap is the data at it; failed says why the data at the gate could
	// not be read (a compacted revision), tried again when the gate moves.
	applied int64
	snap    *snapshot.Snapshot
	failed  string
	// readFailed is the gate revision whose read failed.
	readFailed int64
	// floor is the lowest revision the canaries' word may move the gate
	// to: the revision a canary that failed was next seen healthy at. The
	// change it failed on is below that, and every revision between that
	// change and the fix holds it, whoever vouches for them.
	floor int64
}

func newGate(o FollowOptions) *gate {
	if o.Min <= 0 {
		o.Min = 1
	}
	return &gate{o: o, canaries: map[string]*canary{}}
}

// observe takes the briefs of the followed group's live hosts and the
// promotion from the snapshot. A host writes its brief after reaching the
// revision it reports, so an honest brief never claims more than the
// snapshot's revision: one that does is nobody's real progress (a value
// written by hand, or by anyone who may write the fleet prefix), and
// following it would leave the gate at a revision that cannot be read,
// for good, since the gate never moves back.
func (g *gate) observe(keys fleet.Keys, s *snapshot.Snapshot, now time.Time) {
	kvs, _ := s.Select(snapshot.Selector{Key: strings.TrimSuffix(keys.Group(g.o.Group), "/"), Recursive: true})
	live := map[string]bool{}
	for _, kv := range kvs {
		name, ok := strings.CutPrefix(kv.Key, keys.Group(g.o.Group))
		if !ok || name == "" || strings.Contains(name, "/") {
			continue
		}
		var b fleet.Brief
		if json.Unmarshal([]byte(kv.Value), &b) != nil {
			continue
		}
		live[name] = true
		c := g.canaries[name]
		if c == nil {
			c = &canary{}
			g.canaries[name] = c
		}
		c.brief, c.impossible = b, ""
		if b.At > s.Revision {
			c.impossible = fmt.Sprintf("reports revision %d, which etcd has not reached (it is at %d)", b.At, s.Revision)
		}
		if !b.OK() || c.impossible != "" {
			c.healthy, c.reached, c.failed = time.Time{}, nil, true
			continue
		}
		if c.failed {
			g.floor, c.failed = max(g.floor, b.At), false
		}
		if c.healthy.IsZero() {
			c.healthy = now
		}
		if n := len(c.reached); n == 0 || b.At > c.reached[n-1].at {
			c.reached = append(c.reached, reached{at: b.At, seen: now})
		}
	}
	for name := range g.canaries {
		if !live[name] {
			delete(g.canaries, name)
		}
	}
	g.promote = nil
	if v, ok, _ := s.Get(keys.Promote()); ok {
		var p fleet.Promote
		if json.Unmarshal([]byte(v), &p) == nil && p.Revision > 0 && p.Revision <= s.Revision {
			g.promote = &p
		}
	}
}

// vouch is the newest revision the host has been at, healthy, for the
// bake time by now (0: none); next is when a newer one will have baked
// (zero: none is baking).
func (c *canary) vouch(bake time.Duration, now time.Time) (rev int64, next time.Time) {
	if c.healthy.IsZero() {
		return 0, time.Time{}
	}
	keep := 0
	for i, r := range c.reached {
		since := r.seen
		if c.healthy.After(since) {
			since = c.healthy
		}
		if ripe := since.Add(bake); !ripe.After(now) {
			rev, keep = r.at, i
		} else if next.IsZero() {
			next = ripe
		}
	}
	c.reached = c.reached[keep:]
	return rev, next
}

// update moves the gate: the Min-th newest revision the live canaries
// vouch for, or the promotion's, whichever is newer, never back. While a
// live canary fails, the canaries move it no further, however many others
// vouch: the failure may be the change the others took well (only a
// promotion moves it then); once it is healthy again, only to the
// revision it is healthy at or later.
// It returns when the gate should be looked at again (a revision baking).
func (g *gate) update(now time.Time) time.Time {
	var vouched []int64
	var next time.Time
	var failing []string
	for _, name := range sortedNames(g.canaries) {
		c := g.canaries[name]
		rev, ripe := c.vouch(g.o.Bake, now)
		if rev >= g.floor && rev > 0 {
			vouched = append(vouched, rev)
		}
		if !ripe.IsZero() && (next.IsZero() || ripe.Before(next)) {
			next = ripe
		}
		switch {
		case c.impossible != "":
			failing = append(failing, fmt.Sprintf("%s %s %s", g.o.Group, name, c.impossible))
		case !c.brief.OK():
			why := c.brief.Problem
			if why == "" {
				why = "unhealthy"
			}
			failing = append(failing, fmt.Sprintf("%s %s failed at %d: %s", g.o.Group, name, c.brief.At, why))
		}
	}
	slices.Sort(vouched)
	slices.Reverse(vouched)
	if len(vouched) >= g.o.Min && len(failing) == 0 {
		g.rev = max(g.rev, vouched[g.o.Min-1])
	}
	if g.promote != nil {
		g.rev = max(g.rev, g.promote.Revision)
	}
	switch {
	case len(failing) > 0:
		g.reason = strings.Join(failing, "; ")
	case len(g.canaries) == 0:
		g.reason = "no live host in group " + g.o.Group
	case len(g.canaries) < g.o.Min:
		g.reason = fmt.Sprintf("%d live host%s in group %s, fewer than --follow-min %d", len(g.canaries), plural(len(g.canaries)), g.o.Group, g.o.Min)
	case !next.IsZero():
		g.reason = "baking until " + next.UTC().Format(time.RFC3339)
	default:
		g.reason = ""
	}
	return next
}

func sortedNames(m map[string]*canary) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// following reports whether the daemon follows a canary group.
func (m *member) following() bool { return m != nil && m.gate != nil }

// nextFollow is when a follower's next cycle is due: at once when the
// gate moved past what it applied (or a full cycle waits, a new
// snapshot), when a failed binding's retry is due, or when a revision
// baking may move the gate. Zero: nothing to do.
func (d *daemon) nextFollow() time.Time {
	g := d.fleet.gate
	now := time.Now()
	reason, rev := g.reason, g.rev
	due := g.update(now)
	if g.reason != reason || g.rev != rev {
		d.fleet.want = true
	}
	target := max(g.rev, g.applied)
	if target > 0 && (target > g.applied || d.full) && target != g.readFailed {
		due = now
	}
	if g.applied > 0 {
		for _, r := range d.retries {
			if due.IsZero() || r.due.Before(due) {
				due = r.due
			}
		}
	}
	if !due.IsZero() && due.Before(d.blockedUntil) {
		due = d.blockedUntil
	}
	return due
}

// runFollow applies the gate: it reads etcd's data at the gate revision
// and runs a cycle of every binding from it; then the failed bindings
// whose retry is due, from the same data.
func (d *daemon) runFollow(ctx context.Context, cli *etcd.Client) {
	g := d.fleet.gate
	now := time.Now()
	g.update(now)
	target := max(g.rev, g.applied)
	if target > 0 && (target > g.applied || d.full) && target != g.readFailed {
		if g.snap == nil || g.snap.Revision != target {
			snap, _, err := cli.SnapshotAt(ctx, d.selectors(), target)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				g.failed = fmt.Sprintf("cannot render revision %d: %s", target, errText(err))
				if errors.Is(err, etcd.ErrCompacted) {
					g.failed = fmt.Sprintf("cannot render revision %d: compacted", target)
					// The same revision never comes back: wait for the
					// gate to move or a promotion.
					g.readFailed = target
				} else {
					d.blockStep = max(d.blockStep, d.o.BackoffMin)
					d.blockedUntil = now.Add(jitter(d.blockStep))
					d.blockStep = min(d.blockStep*2, d.o.BackoffMax)
				}
				d.log.Error("following "+g.o.Group+": "+g.failed+"; nothing is applied until it can be read", "revision", target)
				d.o.Metrics.setFollow(g.failed)
				d.fleet.want = true
				return
			}
			g.snap = snap
		}
		if g.failed != "" {
			g.failed, g.readFailed = "", 0
			d.o.Metrics.setFollow("")
		}
		full := d.full
		d.full = false
		if !d.runCycle(ctx, nil) {
			d.full = full
			return
		}
		g.applied = target
		if d.pendingTo <= target {
			d.dirty, d.pendingFrom, d.pendingTo = map[string]bool{}, 0, 0
			d.quiet.reset()
		}
		d.fleet.want = true
	}
	if g.applied == 0 {
		return
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

// followStatus is what the status says of a follower, and the revision
// it is at: the gate it applied while a newer change waits, else what its
// stream has seen.
func (d *daemon) followStatus(seen int64) (*fleet.Following, int64) {
	g := d.fleet.gate
	f := &fleet.Following{Group: g.o.Group, Gate: g.rev, Reason: g.reason, Promoted: g.promote}
	if g.failed != "" {
		f.Reason = g.failed
	}
	if g.promote != nil && g.promote.Revision < g.rev {
		f.Promoted = nil
	}
	at := d.fleet.at
	if g.applied > 0 {
		at = max(g.applied, seen)
		if d.pendingTo > g.applied {
			at, f.Waiting = g.applied, d.pendingTo
		}
	}
	return f, at
}

// source is the data a cycle renders from: the snapshot, or a follower's
// data at its gate.
func (d *daemon) source() *snapshot.Snapshot {
	if d.fleet.following() && d.fleet.gate.snap != nil {
		return d.fleet.gate.snap
	}
	return d.snap
}

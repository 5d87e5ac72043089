package plan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/state"
)

// Action is what apply does to one target.
type Action string

// The actions.
const (
	NoOp   Action = "no-op"
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	// Skip leaves the target untouched because the binding has no data.
	Skip Action = "skip"
	// Fail leaves the target untouched because the binding has an error.
	Fail Action = "fail"
	// Orphan is a target recorded in state whose binding is gone; it is
	// kept unless apply runs with --prune.
	Orphan Action = "orphan"
)

// SkipReason says why a binding is skipped.
type SkipReason string

// Why bindings are skipped.
const (
	// SkipMissingKey: a non-recursive key does not exist.
	SkipMissingKey SkipReason = "missing_key"
	// SkipEmptyPrefix: a recursive key has no keys under it.
	SkipEmptyPrefix SkipReason = "empty_prefix"
	// SkipEmptyOutput: the template rendered nothing but white space.
	SkipEmptyOutput SkipReason = "empty_output"
	// SkipOmitted: a snapshot file left out the values the binding reads
	// (those of sensitive bindings).
	SkipOmitted SkipReason = "sensitive_omitted"
)

// Changes reports whether the action changes a file.
func (a Action) Changes() bool { return a == Create || a == Update || a == Delete }

// Change is the plan for one binding (or one orphaned state record).
type Change struct {
	ID     string
	Target string
	Action Action
	// Reason says why a binding is skipped, failed or orphaned.
	Reason string
	// Skipped says why a binding is skipped, for machines.
	Skipped SkipReason
	// Warnings are things the reader of the plan should know before
	// applying it, such as a target with other hard links.
	Warnings []string
	// Err is the error of a failed binding.
	Err error
	// Drift is set when the target was changed by hand since the last
	// apply (its hash differs from the state's record).
	Drift     bool
	Sensitive bool

	// BeforeHash is the hex SHA-256 of the target now, "" when it does
	// not exist. Before is that content (kept in memory only, for diffs).
	BeforeHash string
	Before     []byte
	// Read is true when planning read the target in this process, and
	// Found is what it found (nil: no file): apply's stale check then
	// looks whether the file is still that one — inode, size,
	// modification and change time, as the last look before the rename
	// does — and
	// reads it again only if not. A plan read from a file has neither.
	Read  bool
	Found *atomicfile.Current
	// AfterHash and After are the rendered content.
	AfterHash string
	After     []byte

	// Mode, UID and GID are the attributes to install the target with
	// (UID/GID -1: the running user's). AttrChange describes a change of
	// mode or owner of an otherwise unchanged target.
	Mode       fs.FileMode
	UID, GID   int
	AttrChange string

	CheckCmd       string
	ReloadCmd      string
	CommandTimeout time.Duration
}

// Plan is the outcome of planning: what each binding's target needs, at one
// etcd revision.
type Plan struct {
	Revision  int64
	ClusterID string
	Prefix    string
	// Lineage and Serial identify the state the plan was made against
	// ("" and 0 when there was none).
	Lineage string
	Serial  int64
	// Changes holds one entry per binding and orphan, sorted by ID.
	Changes []*Change
	// Partial is true when --target limited the plan.
	Partial bool
	// CreatedAt is when a plan read from a file was saved (zero for a
	// plan just made).
	CreatedAt time.Time
}

// Counts tallies the changes by action.
func (p *Plan) Counts() map[Action]int {
	c := map[Action]int{}
	for _, ch := range p.Changes {
		c[ch.Action]++
	}
	return c
}

// HasChanges reports whether applying the plan would change any file.
func (p *Plan) HasChanges() bool {
	for _, ch := range p.Changes {
		if ch.Action.Changes() {
			return true
		}
	}
	return false
}

// Failed reports whether any binding failed to plan.
func (p *Plan) Failed() bool { return p.Counts()[Fail] > 0 }

// Input is what a plan is made from.
type Input struct {
	Set       *bindings.Set
	Templates map[string]*render.Template
	Snapshot  *snapshot.Snapshot
	State     *state.State
	// Partial is true when Set was narrowed with --target: orphans are not
	// considered.
	Partial bool
	// Prune deletes orphaned targets instead of listing them.
	Prune bool
	// Rendered, when set, holds the bindings already rendered from
	// Snapshot (Render): Make only compares them.
	Rendered map[string]*Change
	// StatePath is the state file: no binding may write it, its lock or
	// its journal, nor a file of Set's conf.d/ or templates/ (Reserved).
	StatePath string
}

// MaxTargetSize is the largest target (or orphaned target) reconfig
// reads: no larger file can be one it rendered.
const MaxTargetSize = render.MaxOutput

// Make renders every binding (unless in.Rendered holds the renders) and
// compares it with its target. A render that outlives its binding's
// render_timeout fails that binding alone; a render that a context is to
// stop is made first, with Render, and passed in in.Rendered.
func Make(in Input) *Plan {
	p := &Plan{
		Revision:  in.Snapshot.Revision,
		ClusterID: in.Snapshot.ClusterID,
		Prefix:    in.Snapshot.Prefix,
		Partial:   in.Partial,
		Changes:   make([]*Change, len(in.Set.Bindings)),
	}
	st := in.State
	if st == nil {
		st = state.New()
	}
	p.Lineage, p.Serial = st.Lineage, st.Serial
	rendered := in.Rendered
	if rendered == nil {
		rendered = Render(context.Background(), in.Set, in.Templates, in.Snapshot)
	}
	reserved := ReservedFor(in.Set, in.StatePath)
	forEach(len(in.Set.Bindings), func(i int) {
		b := in.Set.Bindings[i]
		ch := rendered[b.ID]
		if ch == nil {
			ch = newChange(b)
			ch.fail(fmt.Errorf("binding %q was not rendered", b.ID))
		}
		if err := reserved.Check(b.Target); err != nil {
			ch.After, ch.AfterHash, ch.Skipped = nil, "", ""
			ch.fail(err)
		}
		p.Changes[i] = compare(ch, b, st.Bindings[b.ID])
	})
	if !in.Partial {
		p.Changes = append(p.Changes, orphans(in.Set, st, in.Prune)...)
	}
	// By id; a binding's change before the orphan of its old target.
	sort.SliceStable(p.Changes, func(i, j int) bool { return p.Changes[i].ID < p.Changes[j].ID })
	return p
}

// Render renders every binding of set from snap, by id: the part of a plan
// that needs neither the targets nor the state, and so no lock. Each
// change is a skip, a failure, or holds the rendered content (After), for
// Make to compare (Input.Rendered); use it once. A render that outlives
// its binding's render_timeout, or ctx, fails that binding alone.
func Render(ctx context.Context, set *bindings.Set, templates map[string]*render.Template, snap *snapshot.Snapshot) map[string]*Change {
	changes := make([]*Change, len(set.Bindings))
	forEach(len(set.Bindings), func(i int) {
		b := set.Bindings[i]
		changes[i] = renderBinding(ctx, b, templates[b.ID], snap)
	})
	out := make(map[string]*Change, len(changes))
	for _, ch := range changes {
		out[ch.ID] = ch
	}
	return out
}

// forEach runs f(0..n-1) on as many goroutines as there are CPUs; one
// call (a watch cycle's usual lot) runs on the caller's, without a hand-off
// to another goroutine and back.
func forEach(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TargetAttrs are the mode, owner and group binding b installs its target
// with, cur being the target now (nil: none): what the binding names, else
// what the file has, else DefaultMode and the running user (-1).
func TargetAttrs(b *bindings.Binding, cur *atomicfile.Current) (mode fs.FileMode, uid, gid int, err error) {
	buid, bgid, err := b.Owners()
	if err != nil {
		return 0, -1, -1, fmt.Errorf("binding %q: %w", b.ID, err)
	}
	mode, uid, gid = DefaultMode(b), -1, -1
	if cur != nil {
		mode, uid, gid = cur.Attrs.Mode, cur.Attrs.UID, cur.Attrs.GID
		if b.HasMode {
			mode = b.Mode
		}
	}
	if buid >= 0 {
		uid = buid
	}
	if bgid >= 0 {
		gid = bgid
	}
	return mode, uid, gid, nil
}

// DefaultMode is the mode a new target gets: the binding's, else 0644 —
// or 0600 for a sensitive binding, whose content is nobody else's to read.
func DefaultMode(b *bindings.Binding) fs.FileMode {
	switch {
	case b.HasMode:
		return b.Mode
	case b.Sensitive:
		return 0o600
	}
	return 0o644
}

// Hash is the hex SHA-256 of content.
func Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newChange is the change of binding b before it is rendered.
func newChange(b *bindings.Binding) *Change {
	return &Change{
		ID:             b.ID,
		Target:         b.Target,
		Sensitive:      b.Sensitive,
		CheckCmd:       b.CheckCmd,
		ReloadCmd:      b.ReloadCmd,
		CommandTimeout: b.CommandTimeout,
		UID:            -1,
		GID:            -1,
	}
}

func (ch *Change) fail(err error) *Change {
	ch.Action, ch.Err, ch.Reason = Fail, err, err.Error()
	return ch
}

// renderBinding renders one binding: a skip, a failure, or the content
// (After, with no action yet).
func renderBinding(ctx context.Context, b *bindings.Binding, t *render.Template, snap *snapshot.Snapshot) *Change {
	ch := newChange(b)
	if t == nil {
		return ch.fail(fmt.Errorf("binding %q has no compiled template", b.ID))
	}
	in, err := render.Gather(b, snap)
	if err != nil {
		var nc *snapshot.ErrNotCovered
		if errors.As(err, &nc) {
			return ch.fail(fmt.Errorf("binding %q reads %s, which the snapshot does not contain (take a new one with `reconfig snapshot save`)", b.ID, nc.Key))
		}
		var om *snapshot.ErrOmitted
		if errors.As(err, &om) {
			ch.Action, ch.Skipped = Skip, SkipOmitted
			ch.Reason = fmt.Sprintf("not rendered: the snapshot leaves out the values of %s, which sensitive bindings read (`snapshot save --include-sensitive` keeps them)", snap.Describe(om.Key))
			return ch
		}
		return ch.fail(err)
	}
	if in.Empty() && !b.AllowEmpty {
		ch.Action = Skip
		if b.Recursive {
			ch.Skipped = SkipEmptyPrefix
			ch.Reason = fmt.Sprintf("no keys under %s; the target is left as it is (set \"allow_empty\": true to render anyway)", snap.Describe(b.Key))
		} else {
			ch.Skipped = SkipMissingKey
			ch.Reason = fmt.Sprintf("key %s does not exist; the target is left as it is (set \"allow_empty\": true to render anyway)", snap.Describe(b.Key))
		}
		return ch
	}
	out, err := t.Execute(ctx, in)
	if err != nil {
		return ch.fail(err)
	}
	if len(bytes.TrimSpace(out)) == 0 && !b.AllowEmpty {
		// A key set to "" is no more a config than a missing one.
		ch.Action, ch.Skipped = Skip, SkipEmptyOutput
		ch.Reason = "the template rendered an empty file; the target is left as it is (set \"allow_empty\": true to write it anyway)"
		return ch
	}
	ch.After, ch.AfterHash = out, Hash(out)
	return ch
}

// compare decides what a rendered binding needs: its target and its state
// record against the render.
func compare(ch *Change, b *bindings.Binding, rec *state.Record) *Change {
	if ch.Action != "" {
		return ch // skipped or failed
	}
	fail := ch.fail
	out := ch.After
	cur, err := atomicfile.ReadCurrent(b.Target, MaxTargetSize)
	if err != nil {
		return fail(err)
	}
	ch.Read, ch.Found = true, cur
	mode, uid, gid, err := TargetAttrs(b, cur)
	if err != nil {
		return fail(err)
	}
	ch.Mode, ch.UID, ch.GID = mode, uid, gid
	if cur == nil {
		ch.Action = Create
		if rec != nil && rec.Target == b.Target {
			ch.Drift = true // recorded, but deleted by hand
		}
		if b.Sensitive {
			ch.Warnings = append(ch.Warnings, exposed(b, ch.Mode, ch.UID)...)
		}
		return ch
	}
	before := cur.Data
	ch.Before, ch.BeforeHash = before, Hash(before)
	attrs := attrChanges(cur.Attrs, mode, uid, gid)
	if rec != nil && rec.Target == b.Target && rec.SHA256 != ch.BeforeHash {
		ch.Drift = true
	}
	switch again := reinstallReason(rec, b.Target, ch.BeforeHash); {
	case !bytes.Equal(before, out) || len(attrs) > 0:
		ch.Action = Update
		ch.AttrChange = strings.Join(attrs, ", ")
	case again != "":
		// The target already holds the render: not drift, but installed
		// again so that the check and the reload run.
		ch.Action, ch.Drift, ch.Reason = Update, false, again
	default:
		ch.Action, ch.Drift = NoOp, false
	}
	if b.Sensitive {
		ch.Warnings = append(ch.Warnings, exposed(b, ch.Mode, ch.UID)...)
	}
	if ch.Action == Update && cur.Links > 1 {
		ch.Warnings = append(ch.Warnings, fmt.Sprintf("target has %d hard links; apply replaces this name only, the other links keep the old content", cur.Links))
	}
	return ch
}

// exposed says how a sensitive target (with the mode and owner it will
// have) is open to others: readable or writable by every user, or owned by
// a user other than the one reconfig runs as, who may read and change it.
func exposed(b *bindings.Binding, mode fs.FileMode, uid int) []string {
	var out []string
	switch {
	case mode&0o002 != 0:
		out = append(out, fmt.Sprintf("sensitive target has mode %s: every user of this host can change it (set \"mode\", e.g. \"0600\")", bindings.FormatMode(mode)))
	case mode&0o004 != 0:
		out = append(out, fmt.Sprintf("sensitive target has mode %s: every user of this host can read it (set \"mode\", e.g. \"0600\")", bindings.FormatMode(mode)))
	}
	if me := os.Geteuid(); uid >= 0 && uid != me && b.Owner == "" {
		out = append(out, fmt.Sprintf("sensitive target is owned by uid %d, not by the user reconfig runs as (uid %d): that user can read and change it (set \"owner\" to make it deliberate)", uid, me))
	}
	return out
}

// orphan is a target the state records that no binding writes now.
type orphan struct {
	id  string // the binding that wrote it
	rec *state.Record
	// moved is set when the binding still exists and writes another
	// target now.
	moved bool
}

// findOrphans lists the targets the state records that no binding writes
// now: those of removed bindings, and the old targets of bindings whose
// target changed, by binding id and target.
func findOrphans(set *bindings.Set, st *state.State) []orphan {
	written := map[string]bool{}
	for _, b := range set.Bindings {
		written[b.Target] = true
	}
	var out []orphan
	seen := map[string]bool{}
	add := func(id string, rec *state.Record, moved bool) {
		if written[rec.Target] || seen[rec.Target] {
			return
		}
		seen[rec.Target] = true
		out = append(out, orphan{id: id, rec: rec, moved: moved})
	}
	for _, id := range st.IDs() {
		rec := st.Bindings[id]
		if b := set.Get(id); b == nil || b.Target != rec.Target {
			add(id, rec, b != nil)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(st.Orphans)) {
		rec := st.Orphans[t]
		add(rec.Binding, rec, set.Get(rec.Binding) != nil)
	}
	return out
}

// orphans plans the orphaned targets: listed, or deleted with --prune.
func orphans(set *bindings.Set, st *state.State, prune bool) []*Change {
	var out []*Change
	for _, o := range findOrphans(set, st) {
		rec := o.rec
		was := "its binding was removed"
		if o.moved {
			was = fmt.Sprintf("binding %q now writes %s", o.id, set.Get(o.id).Target)
		}
		ch := &Change{ID: o.id, Target: rec.Target, Action: Orphan, UID: -1, GID: -1, Sensitive: rec.Sensitive,
			Reason: was + "; the target is kept (apply --prune deletes it)"}
		cur, err := atomicfile.ReadCurrent(rec.Target, MaxTargetSize)
		var re *atomicfile.RefusedError
		switch {
		case errors.As(err, &re):
			// Not the regular file reconfig wrote: never read, shown or
			// deleted.
			ch.Reason = fmt.Sprintf("%s, but %v; apply --prune deletes only the regular file reconfig wrote: remove it by hand", was, re)
			if prune {
				ch.Action, ch.Err = Fail, errors.New(ch.Reason)
			}
			out = append(out, ch)
			continue
		case err != nil:
			// Unreadable (permissions): not compared, so never deleted.
			ch.Reason = fmt.Sprintf("%s; %v", was, err)
			if prune {
				ch.Action, ch.Err = Fail, fmt.Errorf("%s, and it cannot be read (%v); apply --prune deletes only a target it can compare with what reconfig wrote: remove it by hand", was, err)
				ch.Reason = ch.Err.Error()
			}
			out = append(out, ch)
			continue
		case cur == nil:
			ch.Reason = was + " and the old target no longer exists"
		default:
			ch.Before, ch.BeforeHash = cur.Data, Hash(cur.Data)
			ch.Drift = ch.BeforeHash != rec.SHA256
		}
		if prune {
			ch.Action, ch.Reason = Delete, ""
			if cur != nil && cur.Links > 1 {
				ch.Warnings = append(ch.Warnings, fmt.Sprintf("target has %d hard links; apply deletes this name only, the other links keep the content", cur.Links))
			}
		}
		out = append(out, ch)
	}
	return out
}

// attrChanges describes how the mode, owner and group a target is
// installed with differ from those it has (was), like "mode 0644 → 0600".
func attrChanges(was atomicfile.Attrs, mode fs.FileMode, uid, gid int) []string {
	var out []string
	if mode != was.Mode {
		out = append(out, fmt.Sprintf("mode %s → %s", bindings.FormatMode(was.Mode), bindings.FormatMode(mode)))
	}
	if uid != was.UID {
		out = append(out, fmt.Sprintf("owner %d → %d", was.UID, uid))
	}
	if gid != was.GID {
		out = append(out, fmt.Sprintf("group %d → %d", was.GID, gid))
	}
	return out
}

// reinstallReason says why a target that already holds its render is
// installed again, or "" when it need not be. rec is the state's record
// of the binding, target its target now and hash that of the target's
// content. The state may not record that content as applied — an apply
// died between the rename and the state save, so its check and reload may
// never have run — or the last reload may have failed.
func reinstallReason(rec *state.Record, target, hash string) string {
	switch {
	case rec == nil || rec.Target != target:
		return ""
	case rec.SHA256 != hash:
		return "the content is in place but its apply was not recorded as finished: check and reload again"
	case rec.Reload == state.OutcomeFailed:
		return "its last reload failed: reload again"
	}
	return ""
}

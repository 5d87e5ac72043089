package plan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/reconfig/reconfig/atomicfile"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/render"
	"github.com/reconfig/reconfig/snapshot"
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

// Changes reports whether the action changes a file.
func (a Action) Changes() bool { return a == Create || a == Update || a == Delete }

// Change is the plan for one binding (or one orphaned state record).
type Change struct {
	ID     string
	Target string
	Action Action
	// Reason says why a binding is skipped, failed or orphaned.
	Reason string
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
}

// Make renders every binding and compares it with its target. A render
// that outlives its binding's render_timeout, or ctx, fails that binding
// alone.
func Make(ctx context.Context, in Input) *Plan {
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

	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(in.Set.Bindings)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b := in.Set.Bindings[i]
				p.Changes[i] = planBinding(ctx, b, in.Templates[b.ID], in.Snapshot, st.Bindings[b.ID])
			}
		}()
	}
	for i := range in.Set.Bindings {
		next <- i
	}
	close(next)
	wg.Wait()

	if !in.Partial {
		p.Changes = append(p.Changes, orphans(in.Set, st, in.Prune)...)
	}
	sort.Slice(p.Changes, func(i, j int) bool { return p.Changes[i].ID < p.Changes[j].ID })
	return p
}

// Hash is the hex SHA-256 of content.
func Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func planBinding(ctx context.Context, b *bindings.Binding, t *render.Template, snap *snapshot.Snapshot, rec *state.Record) *Change {
	ch := &Change{
		ID:             b.ID,
		Target:         b.Target,
		Sensitive:      b.Sensitive,
		CheckCmd:       b.CheckCmd,
		ReloadCmd:      b.ReloadCmd,
		CommandTimeout: b.CommandTimeout,
		UID:            -1,
		GID:            -1,
	}
	fail := func(err error) *Change {
		ch.Action, ch.Err, ch.Reason = Fail, err, err.Error()
		return ch
	}
	if t == nil {
		return fail(fmt.Errorf("binding %q has no compiled template", b.ID))
	}
	in, err := render.Gather(b, snap)
	if err != nil {
		var nc *snapshot.ErrNotCovered
		if errors.As(err, &nc) {
			return fail(fmt.Errorf("binding %q reads %s, which the snapshot does not contain (take a new one with `reconfig snapshot save`)", b.ID, nc.Key))
		}
		return fail(err)
	}
	if in.Empty() && !b.AllowEmpty {
		ch.Action = Skip
		if b.Recursive {
			ch.Reason = fmt.Sprintf("no keys under %s; the target is left as it is (set \"allow_empty\": true to render anyway)", snap.Describe(b.Key))
		} else {
			ch.Reason = fmt.Sprintf("key %s does not exist; the target is left as it is (set \"allow_empty\": true to render anyway)", snap.Describe(b.Key))
		}
		return ch
	}
	out, err := t.Execute(ctx, in)
	if err != nil {
		return fail(err)
	}
	ch.After, ch.AfterHash = out, Hash(out)

	uid, gid, err := b.Owners()
	if err != nil {
		return fail(fmt.Errorf("binding %q: %w", b.ID, err))
	}
	cur, err := atomicfile.ReadCurrent(b.Target)
	switch {
	case err != nil:
		return fail(err)
	case cur == nil:
		ch.Action = Create
		ch.Mode, ch.UID, ch.GID = 0o644, uid, gid
		if b.HasMode {
			ch.Mode = b.Mode
		}
		if rec != nil && rec.Target == b.Target {
			ch.Drift = true // recorded, but deleted by hand
		}
		return ch
	}
	before := cur.Data
	ch.Before, ch.BeforeHash = before, Hash(before)
	ch.Mode, ch.UID, ch.GID = cur.Attrs.Mode, cur.Attrs.UID, cur.Attrs.GID
	curUID, curGID := cur.Attrs.UID, cur.Attrs.GID
	var attrs []string
	if b.HasMode && b.Mode != ch.Mode {
		attrs = append(attrs, fmt.Sprintf("mode %s → %s", bindings.FormatMode(ch.Mode), bindings.FormatMode(b.Mode)))
		ch.Mode = b.Mode
	}
	if uid >= 0 && uid != curUID {
		attrs = append(attrs, fmt.Sprintf("owner %d → %d", curUID, uid))
		ch.UID = uid
	}
	if gid >= 0 && gid != curGID {
		attrs = append(attrs, fmt.Sprintf("group %d → %d", curGID, gid))
		ch.GID = gid
	}

	if rec != nil && rec.Target == b.Target && rec.SHA256 != ch.BeforeHash {
		ch.Drift = true
	}
	switch {
	case !bytes.Equal(before, out) || len(attrs) > 0:
		ch.Action = Update
		ch.AttrChange = joinAttrs(attrs)
	case rec != nil && rec.Target == b.Target && (rec.SHA256 != ch.BeforeHash || rec.Reload == state.OutcomeFailed):
		// The target already holds the render, but the state does not
		// record that content as applied — an apply died between the
		// rename and the state save (its check and reload may never have
		// run) — or its reload failed. Install it again so that the
		// check and the reload run.
		ch.Action = Update
		ch.Drift = false
		if rec.SHA256 != ch.BeforeHash {
			ch.Reason = "the content is in place but its apply was not recorded as finished: check and reload again"
		} else {
			ch.Reason = "its last reload failed: reload again"
		}
	default:
		ch.Action = NoOp
		ch.Drift = false
	}
	return ch
}

// orphans lists the state's records whose binding is gone.
func orphans(set *bindings.Set, st *state.State, prune bool) []*Change {
	var out []*Change
	for _, id := range st.IDs() {
		if set.Get(id) != nil {
			continue
		}
		rec := st.Bindings[id]
		ch := &Change{ID: id, Target: rec.Target, Action: Orphan, UID: -1, GID: -1,
			Reason: "its binding was removed; the target is kept (apply --prune deletes it)"}
		// A target that another binding now writes is not an orphan's to
		// delete.
		taken := false
		for _, b := range set.Bindings {
			if b.Target == rec.Target {
				taken = true
			}
		}
		data, err := os.ReadFile(rec.Target)
		switch {
		case err == nil:
			ch.Before, ch.BeforeHash = data, Hash(data)
			ch.Drift = ch.BeforeHash != rec.SHA256
		case errors.Is(err, fs.ErrNotExist):
			ch.Reason = "its binding was removed and its target no longer exists"
		default:
			ch.Reason = fmt.Sprintf("its binding was removed; target: %v", unwrapPath(err))
		}
		if prune && !taken {
			ch.Action, ch.Reason = Delete, ""
		}
		out = append(out, ch)
	}
	return out
}

func joinAttrs(a []string) string {
	var b bytes.Buffer
	for i, s := range a {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

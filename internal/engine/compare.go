package engine

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
)

// Comparison is a review of one configuration against another: both
// rendered from the same snapshot, binding by binding.
type Comparison struct {
	// Base is the configuration compared with (a base branch's); Head is
	// the one under review. Their Sets may be narrowed (--target); nil
	// Sets mean every binding.
	Base, Head       *Config
	BaseSet, HeadSet *bindings.Set
	Snapshot         *snapshot.Snapshot
}

// The reasons Compare gives its changes; the view shows them as they are.
const (
	ReasonAdded   = "binding added"
	ReasonRemoved = "binding removed"
	ReasonChanged = "render changed"
	// ReasonSettings: the render is the same, the binding's target, mode,
	// owner or commands are not (AttrChange says which).
	ReasonSettings = "binding changed"
)

// Compare renders both configurations of c from its snapshot and returns
// the difference as a plan whose Before is the base's render and After the
// head's: Create is a binding that renders now and did not (added, or
// skipped or failed in the base), Update one whose render or settings
// changed, Delete a binding the head removed, Skip and Fail the head's
// skips and failures, NoOp the same render. It reads neither the targets
// nor a state, so it runs where neither exists (a CI runner); the plan
// cannot be applied.
func Compare(ctx context.Context, c Comparison) *plan.Plan {
	baseSet, headSet := c.BaseSet, c.HeadSet
	if baseSet == nil {
		baseSet = c.Base.Set
	}
	if headSet == nil {
		headSet = c.Head.Set
	}
	was := plan.Render(ctx, baseSet, c.Base.Templates, c.Snapshot)
	now := plan.Render(ctx, headSet, c.Head.Templates, c.Snapshot)
	var ids []string
	for _, b := range baseSet.Bindings {
		ids = append(ids, b.ID)
	}
	for _, b := range headSet.Bindings {
		if baseSet.Get(b.ID) == nil {
			ids = append(ids, b.ID)
		}
	}
	slices.Sort(ids)
	p := &plan.Plan{Revision: c.Snapshot.Revision, ClusterID: c.Snapshot.ClusterID, Prefix: c.Snapshot.Prefix}
	for _, id := range ids {
		p.Changes = append(p.Changes, compareBinding(baseSet.Get(id), headSet.Get(id), was[id], now[id]))
	}
	return p
}

// rendered reports whether ch (of plan.Render) holds a render.
func rendered(ch *plan.Change) bool { return ch != nil && ch.Action == "" }

// compareBinding compares binding base (nil: the head added it), rendered
// as was, with binding head (nil: the head removed it), rendered as now.
func compareBinding(base, head *bindings.Binding, was, now *plan.Change) *plan.Change {
	if head == nil {
		ch := &plan.Change{ID: base.ID, Target: base.Target, Action: plan.Delete, Reason: ReasonRemoved,
			Sensitive: base.Sensitive, UID: -1, GID: -1}
		if rendered(was) {
			ch.Before, ch.BeforeHash = was.After, was.AfterHash
		}
		return ch
	}
	ch := now
	ch.Sensitive = head.Sensitive || (base != nil && base.Sensitive)
	switch {
	case base == nil && rendered(now):
		ch.Action, ch.Reason = plan.Create, ReasonAdded
	case base == nil:
		ch.Reason = "new binding; " + ch.Reason
	case ch.Action == plan.Skip && rendered(was):
		ch.Reason += " (the baseline renders it)"
	case ch.Action != "":
		// Failed or skipped now: shown as such.
	case !rendered(was):
		ch.Action, ch.Reason = plan.Create, notRendered(was)
		ch.AttrChange = settingChanges(base, head)
	default:
		ch.Before, ch.BeforeHash = was.After, was.AfterHash
		ch.AttrChange = settingChanges(base, head)
		switch {
		case !bytes.Equal(was.After, now.After):
			ch.Action, ch.Reason = plan.Update, ReasonChanged
		case ch.AttrChange != "":
			ch.Action, ch.Reason = plan.Update, ReasonSettings
		default:
			ch.Action = plan.NoOp
		}
	}
	return ch
}

// notRendered says why the baseline rendered nothing: it skipped the
// binding (what it found, without the advice about the target) or failed.
func notRendered(was *plan.Change) string {
	if was.Action == plan.Skip {
		why, _, _ := strings.Cut(was.Reason, ";")
		return "the baseline skips it: " + why
	}
	return "the baseline fails: " + was.Reason
}

// settingChanges describes how binding head writes its target otherwise
// than binding base: the target, its mode, owner and group, the commands.
func settingChanges(base, head *bindings.Binding) string {
	var out []string
	differ := func(what, was, now string) {
		if was != now {
			out = append(out, fmt.Sprintf("%s %s → %s", what, was, now))
		}
	}
	differ("target", base.Target, head.Target)
	differ("mode", settingMode(base), settingMode(head))
	differ("owner", orKept(base.Owner), orKept(head.Owner))
	differ("group", orKept(base.Group), orKept(head.Group))
	differ("checkcmd", orNone(base.CheckCmd), orNone(head.CheckCmd))
	differ("reloadcmd", orNone(base.ReloadCmd), orNone(head.ReloadCmd))
	if base.Sensitive != head.Sensitive {
		out = append(out, fmt.Sprintf("sensitive %t → %t", base.Sensitive, head.Sensitive))
	}
	return strings.Join(out, ", ")
}

func settingMode(b *bindings.Binding) string {
	if !b.HasMode {
		return "(kept)"
	}
	return bindings.FormatMode(b.Mode)
}

func orKept(s string) string {
	if s == "" {
		return "(kept)"
	}
	return s
}

func orNone(cmd string) string {
	if cmd == "" {
		return "(none)"
	}
	return "`" + cmd + "`"
}

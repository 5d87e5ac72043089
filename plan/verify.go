package plan

import (
	"fmt"
	"strings"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/state"
)

// RefusedError is a saved plan that asks for more than the bindings allow.
type RefusedError struct {
	Path    string
	Reasons []string
}

var _ hint.Hinter = (*RefusedError)(nil)

func (e *RefusedError) Error() string {
	return fmt.Sprintf("plan file %s is refused: %s", e.Path, strings.Join(e.Reasons, "; "))
}

// Hint says what to do.
func (e *RefusedError) Hint() string {
	return "a saved plan can do no more than the current bindings say; make a new plan with `reconfig plan --out FILE` (and keep plan files as safe as the configuration itself)"
}

// Verify refuses a saved plan that does anything the current bindings do
// not say: every write must be of a binding's own target, with its mode,
// owner, group and commands; every delete must be of a target the state
// records as orphaned. The new content itself is what was reviewed. An
// edited plan file can then do no more than a review of an honest one.
func (p *Plan) Verify(path string, set *bindings.Set, st *state.State) error {
	var reasons []string
	bad := func(ch *Change, format string, args ...any) {
		reasons = append(reasons, fmt.Sprintf("change %q (%s): %s", ch.ID, ch.Target, fmt.Sprintf(format, args...)))
	}
	orphaned := map[string]bool{}
	for _, o := range findOrphans(set, st) {
		orphaned[o.rec.Target] = true
	}
	seen := map[string]bool{}
	for _, ch := range p.Changes {
		if ch.Action.Changes() || ch.Action == NoOp {
			if seen[ch.Target] {
				bad(ch, "the plan changes this target twice")
				continue
			}
			seen[ch.Target] = true
		}
		switch ch.Action {
		case Delete:
			if !orphaned[ch.Target] {
				bad(ch, "deletes a file the state does not record as orphaned")
			}
			continue
		case Skip, Fail:
			// Nothing is written for these, but apply sweeps their
			// targets' directories of staged files: they too must be a
			// binding's own target (or, for a failed prune, an orphan).
			if ch.Action == Fail && orphaned[ch.Target] {
				continue
			}
			if b := set.Get(ch.ID); b == nil {
				bad(ch, "no binding has this id")
			} else if b.Target != ch.Target {
				bad(ch, "binding %q writes %s, not this file", b.ID, b.Target)
			}
			continue
		case Create, Update, NoOp:
		default:
			continue
		}
		b := set.Get(ch.ID)
		switch {
		case b == nil:
			bad(ch, "no binding has this id")
			continue
		case b.Target != ch.Target:
			bad(ch, "binding %q writes %s, not this file", b.ID, b.Target)
			continue
		case ch.Action == NoOp:
			continue
		}
		if ch.CheckCmd != b.CheckCmd {
			bad(ch, "its checkcmd %q is not the binding's %q", ch.CheckCmd, b.CheckCmd)
		}
		if ch.ReloadCmd != b.ReloadCmd {
			bad(ch, "its reloadcmd %q is not the binding's %q", ch.ReloadCmd, b.ReloadCmd)
		}
		if ch.CommandTimeout != b.CommandTimeout {
			bad(ch, "its command_timeout %s is not the binding's %s", ch.CommandTimeout, b.CommandTimeout)
		}
		if ch.Sensitive != b.Sensitive {
			bad(ch, "it is marked sensitive=%v, the binding sensitive=%v", ch.Sensitive, b.Sensitive)
		}
		// Mode and owner: the binding's, else what the file has now (or
		// the defaults of a new file).
		cur, err := atomicfile.ReadCurrent(ch.Target, MaxTargetSize)
		if err != nil {
			bad(ch, "%v", err)
			continue
		}
		mode, uid, gid, err := TargetAttrs(b, cur)
		if err != nil {
			bad(ch, "%v", err)
			continue
		}
		if ch.Mode != mode {
			bad(ch, "mode %s is not %s, what binding %q gives", bindings.FormatMode(ch.Mode), bindings.FormatMode(mode), b.ID)
		}
		if ch.UID != uid || ch.GID != gid {
			bad(ch, "owner %d:%d is not %d:%d, what binding %q gives", ch.UID, ch.GID, uid, gid, b.ID)
		}
	}
	if len(reasons) > 0 {
		return &RefusedError{Path: path, Reasons: reasons}
	}
	return nil
}

package view

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/reconfig/reconfig/state"
)

// StateAbsent says there is no state file yet (state list).
func (v *View) StateAbsent(path string) {
	fmt.Fprintf(v.stdout, "No state at %s: nothing applied yet.\n", path)
}

// StateList lists what the state at path records: a line per binding, then
// the orphans.
func (v *View) StateList(path string, st *state.State) {
	w, s := v.stdout, v.style
	fmt.Fprintf(w, "State %s: lineage %s, serial %d, etcd cluster %s, revision %d\n", path, st.Lineage, st.Serial, st.ClusterID, st.Revision)
	for _, id := range st.IDs() {
		r := st.Bindings[id]
		mark := ""
		if r.Error != "" {
			mark = "  " + s.Err.Sprint("(last apply failed)")
		}
		fmt.Fprintf(w, "  %s  %s  revision %d  %s%s\n", s.Bold.Sprint(Printable(id)), Printable(r.Target), r.Revision, r.AppliedAt.Local().Format(time.RFC3339), mark)
	}
	for _, t := range slices.Sorted(maps.Keys(st.Orphans)) {
		r := st.Orphans[t]
		fmt.Fprintf(w, "  %s  %s  revision %d  %s\n", s.Dim.Sprint("(orphan of "+Printable(r.Binding)+")"), Printable(r.Target), r.Revision, r.AppliedAt.Local().Format(time.RFC3339))
	}
}

// StateShow shows one binding's record (state show).
type StateShow interface {
	// Record shows the record of binding id. A sensitive record comes
	// without its hash, which is as good as a low-entropy secret.
	Record(id string, r *state.Record) error
}

// NewStateShow returns the human or the JSON view of state show.
func NewStateShow(v *View, asJSON bool) StateShow {
	if asJSON {
		return stateShowJSON{v}
	}
	return stateShowHuman{v}
}

type stateShowHuman struct{ *View }

var _ StateShow = stateShowHuman{}

func (v stateShowHuman) Record(id string, r *state.Record) error {
	w := v.stdout
	sum := r.SHA256
	if r.Sensitive {
		sum = "(not shown: the binding is sensitive)"
	}
	fmt.Fprintf(w, "id:         %s\n", Printable(id))
	fmt.Fprintf(w, "target:     %s\n", Printable(r.Target))
	fmt.Fprintf(w, "sha256:     %s\n", sum)
	fmt.Fprintf(w, "revision:   %d\n", r.Revision)
	fmt.Fprintf(w, "applied at: %s\n", r.AppliedAt.Local().Format(time.RFC3339))
	fmt.Fprintf(w, "check:      %s\n", r.Check)
	fmt.Fprintf(w, "reload:     %s\n", r.Reload)
	if r.Error != "" {
		fmt.Fprintf(w, "error:      %s\n", Printable(r.Error))
	}
	return nil
}

type stateShowJSON struct{ *View }

var _ StateShow = stateShowJSON{}

func (v stateShowJSON) Record(id string, r *state.Record) error {
	data, err := json.MarshalIndent(struct {
		ID string `json:"id"`
		*state.Record
	}{id, r}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(v.stdout, "%s\n", data)
	return err
}

// Unlocked says the stale lock of a dead process was removed.
func (v *View) Unlocked(info *state.LockInfo) {
	fmt.Fprintf(v.stdout, "Removed the stale lock of pid %d (%s, since %s).\n", info.PID, info.Operation, info.Since.Local().Format(time.RFC3339))
}

// LeftoverLockRemoved says a lock file that named no holder, left behind
// and held by no process, was removed.
func (v *View) LeftoverLockRemoved(path string) {
	fmt.Fprintf(v.stdout, "Removed the leftover lock file %s: no process held it, and it named no holder.\n", path)
}

// NoLock says no lock was held on the state at path.
func (v *View) NoLock(path string) {
	fmt.Fprintf(v.stdout, "No lock held on %s.\n", path)
}

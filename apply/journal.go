package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// The journal keeps the last checked content of every target whose check
// runs after it is installed (a checkcmd without {{.src}}), from before the
// rename until its check has passed or its old content is back. An apply
// killed in between leaves the journal behind; the next apply or daemon
// cycle, holding the state lock, puts the checked content back before it
// plans (Recover), so content that never passed its check does not stay in
// place. It lives beside the state file, never in a target's directory,
// and is mode 0600 like the state: it may hold sensitive content.

// journalVersion is the journal's format.
const journalVersion = 1

// maxJournal caps the journal read back: the old content of every target
// of one apply (each at most plan.MaxTargetSize).
const maxJournal = 512 << 20

type journal struct {
	Version int            `json:"version"`
	Entries []journalEntry `json:"entries"`
}

type journalEntry struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	// Existed is false when the target did not exist before: recovery
	// removes it.
	Existed    bool   `json:"existed"`
	Before     []byte `json:"before,omitempty"`
	BeforeHash string `json:"before_sha256,omitempty"`
	Mode       uint32 `json:"mode,omitempty"`
	UID        int    `json:"uid"`
	GID        int    `json:"gid"`
	// AfterHash is the unchecked content being installed.
	AfterHash string `json:"after_sha256"`
}

// writeJournal records the targets about to be installed before their
// check, durably, before any of them is renamed.
func writeJournal(path string, outs []*Outcome) error {
	j := journal{Version: journalVersion}
	for _, o := range outs {
		e := journalEntry{ID: o.ID, Target: o.Target, AfterHash: o.change.AfterHash, UID: -1, GID: -1}
		if o.prev != nil {
			e.Existed, e.Before, e.BeforeHash = true, o.prev.Data, plan.Hash(o.prev.Data)
			e.Mode, e.UID, e.GID = uint32(o.prev.Attrs.Mode), o.prev.Attrs.UID, o.prev.Attrs.GID
		}
		j.Entries = append(j.Entries, e)
	}
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, atomicfile.Attrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		return fmt.Errorf("write the journal of unchecked installs: %w", err)
	}
	return nil
}

// removeJournal drops the journal once every check it covers is done.
func removeJournal(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the journal %s: %w", path, err)
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}

// Recovered is a target an interrupted apply left installed before its
// check, and what Recover did about it.
type Recovered struct {
	ID, Target string
	// Restored is true when the last checked content (or no file, for a
	// target that did not exist) was put back.
	Restored bool
	// Note says what was found and done.
	Note string
}

// JournalError is a journal that cannot be read: nothing is done until an
// operator looks at it.
type JournalError struct {
	Path string
	Err  error
}

var _ hint.Hinter = (*JournalError)(nil)

func (e *JournalError) Error() string {
	return fmt.Sprintf("the journal %s of an interrupted apply cannot be used: %v", e.Path, e.Err)
}

// Hint says what to do.
func (e *JournalError) Hint() string {
	return "it holds the last checked content of targets whose check an apply did not finish; restore them by hand if needed, then remove it"
}

// Recover finishes what an apply killed during its after-install checks
// left behind: each journaled target that still holds the unchecked
// content gets its last checked content back (or is removed, if it did not
// exist before), durably; a target changed since is left alone and
// reported. The journal is then removed, and planning installs and checks
// the new content again. The caller holds the state lock. No journal:
// nothing to do.
func Recover(statePath string) ([]Recovered, error) {
	// A journal staged but never renamed into place covered no rename;
	// state.Acquire swept it.
	path := state.JournalPath(statePath)
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: maxJournal})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &JournalError{Path: path, Err: err}
	}
	var j journal
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, &JournalError{Path: path, Err: err}
	}
	if j.Version != journalVersion {
		return nil, &JournalError{Path: path, Err: fmt.Errorf("format version %d is not supported", j.Version)}
	}
	var out []Recovered
	for _, e := range j.Entries {
		r := Recovered{ID: e.ID, Target: e.Target}
		cur, err := atomicfile.ReadCurrent(e.Target, plan.MaxTargetSize)
		switch {
		case err != nil:
			r.Note = fmt.Sprintf("cannot look at it (%v); left as it is", err)
		case cur == nil || plan.Hash(cur.Data) != e.AfterHash:
			r.Note = "its check was interrupted, but it has changed since; left as it is"
			if (cur == nil && !e.Existed) || (cur != nil && e.Existed && plan.Hash(cur.Data) == e.BeforeHash) {
				r.Note = "its check was interrupted before the new content was installed; nothing to undo"
			}
		case !e.Existed:
			if err := os.Remove(e.Target); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, fmt.Errorf("recover %s: %w", e.Target, err)
			}
			if err := atomicfile.SyncDir(filepath.Dir(e.Target)); err != nil {
				return out, err
			}
			r.Restored, r.Note = true, "removed: it was installed, new, before its check ran, and the check never finished"
		default:
			if err := atomicfile.Write(e.Target, e.Before, atomicfile.Attrs{Mode: fs.FileMode(e.Mode), UID: e.UID, GID: e.GID}); err != nil {
				return out, fmt.Errorf("recover %s: %w", e.Target, err)
			}
			r.Restored, r.Note = true, "its last checked content was put back: the new content was installed before its check ran, and the check never finished"
		}
		out = append(out, r)
	}
	return out, removeJournal(path)
}

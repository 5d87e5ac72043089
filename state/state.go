package state

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/hint"
)

// Version is the state file format.
const Version = 1

// State is what the state file records.
type State struct {
	Version   int                `json:"version"`
	Lineage   string             `json:"lineage"`
	Serial    int64              `json:"serial"`
	ClusterID string             `json:"cluster_id"`
	Revision  int64              `json:"revision"`
	Bindings  map[string]*Record `json:"bindings"`
	// Orphans are targets reconfig wrote whose binding now writes another
	// target (its "target" changed), by path. A removed binding's target
	// stays in Bindings under its id. Both are listed as orphaned, and
	// --prune deletes them.
	Orphans map[string]*Record `json:"orphans,omitempty"`
}

// Record is what apply last did for one binding.
type Record struct {
	Target string `json:"target"`
	// SHA256 is the hex digest of the content reconfig last wrote (or
	// found matching) at Target.
	SHA256    string    `json:"sha256"`
	Revision  int64     `json:"revision"`
	AppliedAt time.Time `json:"applied_at"`
	// Check and Reload are the outcomes of the last apply: "ok",
	// "failed", or "none" when the binding has no such command or it did
	// not run.
	Check  string `json:"check"`
	Reload string `json:"reload"`
	// Error is the last apply's failure, if any.
	Error string `json:"error,omitempty"`
	// Sensitive is set when the binding was sensitive: its content is
	// never shown, also once the binding is gone.
	Sensitive bool `json:"sensitive,omitempty"`
	// Binding is, for an entry of Orphans, the id of the binding that
	// wrote it.
	Binding string `json:"binding,omitempty"`
}

// Outcomes of a check or reload command.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
	OutcomeNone   = "none"
)

// New returns an empty state that has never been written.
func New() *State {
	return &State{Version: Version, Bindings: map[string]*Record{}}
}

// Exists reports whether the state was read from a file (or was saved).
func (s *State) Exists() bool { return s.Lineage != "" }

// IDs lists the binding ids the state records, sorted.
func (s *State) IDs() []string {
	ids := make([]string, 0, len(s.Bindings))
	for id := range s.Bindings {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Fingerprint identifies the binding records, to tell whether an apply
// that changed no file still has something new to record.
func (s *State) Fingerprint() string {
	var b strings.Builder
	for _, id := range s.IDs() {
		r := s.Bindings[id]
		fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%v\n", id, r.Target, r.SHA256, r.Check, r.Reload, r.Error, r.Sensitive)
	}
	for _, t := range slices.Sorted(maps.Keys(s.Orphans)) {
		r := s.Orphans[t]
		fmt.Fprintf(&b, "orphan\x00%s\x00%s\x00%s\n", t, r.Binding, r.SHA256)
	}
	return b.String()
}

// Error is a state file that cannot be used. What to do about it depends
// on the case: where it is made, a hint is added (hint.Wrap).
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if strings.HasPrefix(e.Msg, "is ") {
		return fmt.Sprintf("state file %s %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("state file %s: %s", e.Path, e.Msg)
}

// MaxSize is the largest state file Load reads. A record holds a target
// path, a hash, two outcomes and a time, about 300 bytes: 64 MiB is room
// for some 200,000 bindings, twenty times the largest set benchmarked,
// and small enough that a planted file cannot take the memory.
const MaxSize = 64 << 20

// Load reads the state file at path. A missing file gives an empty state;
// an unreadable or corrupt one is an error, and so is anything but a
// regular file of at most MaxSize (atomicfile.Read): a symlink is refused
// (Save replaces the file by renaming, which would replace a link), a FIFO
// or device is never read.
func Load(path string) (*State, error) {
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: MaxSize})
	var re *atomicfile.RefusedError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return New(), nil
	case errors.As(err, &re) && re.Symlink():
		return nil, hint.Wrap(&Error{Path: path, Msg: re.What()},
			"reconfig replaces the state file by renaming, which would replace the link: point --state at the file itself")
	case errors.As(err, &re) && re.TooLarge():
		return nil, hint.Wrap(&Error{Path: path, Msg: re.What()},
			"this is not a state reconfig wrote: restore it from a backup, or move it aside to start a new lineage")
	case errors.As(err, &re):
		return nil, hint.Wrap(&Error{Path: path, Msg: re.What()},
			"reconfig writes the state as a regular file: move this one aside, or move the state with --state")
	case err != nil:
		return nil, hint.Wrap(&Error{Path: path, Msg: fmt.Sprintf("cannot read: %v", atomicfile.WithoutPath(err))},
			"check the file's permissions, or move the state with --state")
	}
	corrupt := func(why string) error {
		return hint.Wrap(&Error{Path: path, Msg: "is corrupt: " + why},
			"restore it from a backup, or move it aside to start a new lineage (the next apply re-records every target)")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, corrupt("the file is empty")
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, corrupt(err.Error())
	}
	switch {
	case s.Version != Version:
		return nil, hint.Wrap(&Error{Path: path, Msg: fmt.Sprintf("format version %d is not supported (this reconfig reads version %d)", s.Version, Version)},
			"use the reconfig release that wrote it")
	case s.Lineage == "":
		return nil, corrupt("it has no lineage")
	case s.Serial < 1:
		return nil, corrupt("its serial is not positive")
	case s.Serial == math.MaxInt64:
		// The next save would wrap it around to a negative serial.
		return nil, corrupt("its serial is at its maximum and cannot grow")
	}
	if s.Bindings == nil {
		s.Bindings = map[string]*Record{}
	}
	// Bindings name absolute, clean targets (bindings.Load): a record of
	// anything else is no target reconfig wrote, and --prune would delete
	// it (a relative one in the working directory).
	clean := func(t string) bool { return filepath.IsAbs(t) && filepath.Clean(t) == t }
	for id, r := range s.Bindings {
		switch {
		case r == nil || r.Target == "":
			return nil, corrupt(fmt.Sprintf("binding %q has no target", id))
		case !clean(r.Target):
			return nil, corrupt(fmt.Sprintf("binding %q records target %q, which is not an absolute, clean path", id, r.Target))
		}
	}
	for t, r := range s.Orphans {
		switch {
		case r == nil || r.Target != t:
			return nil, corrupt(fmt.Sprintf("orphan %q does not name its target", t))
		case !clean(t):
			return nil, corrupt(fmt.Sprintf("orphan %q records target %q, which is not an absolute, clean path", t, t))
		}
	}
	return &s, nil
}

// Save writes the state atomically with mode 0600, giving it a lineage
// when it has none and incrementing its serial.
func (s *State) Save(path string) error {
	if s.Lineage == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		s.Lineage = hex.EncodeToString(b[:])
	}
	s.Version = Version
	s.Serial++
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := atomicfile.Write(path, data, atomicfile.Attrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		s.Serial--
		return hint.Wrap(&Error{Path: path, Msg: "cannot write: " + err.Error()},
			"check that the state file's directory exists and is writable, or move it with --state")
	}
	return nil
}

// ClusterMismatch is a state written against another etcd cluster.
type ClusterMismatch struct {
	Path        string
	State, Etcd string
}

var _ hint.Hinter = (*ClusterMismatch)(nil)

func (e *ClusterMismatch) Error() string {
	return fmt.Sprintf("state file %s was written for etcd cluster %s, but this etcd is cluster %s", e.Path, e.State, e.Etcd)
}

// Hint says what to do.
func (e *ClusterMismatch) Hint() string {
	return "check --endpoints and --state; pass --force to adopt the state for this cluster"
}

// CheckCluster refuses a state from another cluster unless force.
func (s *State) CheckCluster(path, clusterID string, force bool) error {
	if force || s.ClusterID == "" || clusterID == "" || s.ClusterID == clusterID {
		return nil
	}
	return &ClusterMismatch{Path: path, State: s.ClusterID, Etcd: clusterID}
}

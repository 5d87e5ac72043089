package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/state"
)

// FileVersion is the plan file format. Version 2 added the old content
// of the targets a plan updates or deletes (before), so that a saved plan
// can be reviewed where the targets are not (`reconfig show`); version 1
// files are still read.
const FileVersion = 2

// MaxFileSize is the largest plan file Write writes and ReadFile reads. A
// plan carries the whole new content of every target it changes (each at
// most MaxTargetSize, escaped as JSON): 512 MiB is 16 targets of the
// largest size, or thousands of ordinary ones, while a file that never
// ends (a symlink to /dev/zero is refused anyway) cannot take the memory.
// A larger plan is split with --target.
const MaxFileSize = 512 << 20

type file struct {
	FormatVersion int          `json:"format_version"`
	CreatedAt     time.Time    `json:"created_at"`
	Revision      int64        `json:"revision"`
	ClusterID     string       `json:"cluster_id"`
	Prefix        string       `json:"prefix,omitempty"`
	StateLineage  string       `json:"state_lineage"`
	StateSerial   int64        `json:"state_serial"`
	Partial       bool         `json:"partial,omitempty"`
	Changes       []fileChange `json:"changes"`
}

type fileChange struct {
	ID             string   `json:"id"`
	Target         string   `json:"target"`
	Action         Action   `json:"action"`
	Reason         string   `json:"reason,omitempty"`
	Skipped        string   `json:"skipped,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	Drift          bool     `json:"drift,omitempty"`
	Sensitive      bool     `json:"sensitive,omitempty"`
	BeforeSHA256   string   `json:"before_sha256"`
	Before         *string  `json:"before,omitempty"`
	AfterSHA256    string   `json:"after_sha256,omitempty"`
	After          string   `json:"after,omitempty"`
	Mode           string   `json:"mode,omitempty"`
	UID            int      `json:"uid"`
	GID            int      `json:"gid"`
	AttrChange     string   `json:"attr_change,omitempty"`
	CheckCmd       string   `json:"checkcmd,omitempty"`
	ReloadCmd      string   `json:"reloadcmd,omitempty"`
	CommandTimeout string   `json:"command_timeout,omitempty"`
}

// Write saves the plan for `reconfig apply PLANFILE`: JSON, mode 0600
// (it may hold sensitive content), written atomically.
func (p *Plan) Write(path string) error {
	f := file{
		FormatVersion: FileVersion,
		CreatedAt:     time.Now().UTC().Truncate(time.Second),
		Revision:      p.Revision,
		ClusterID:     p.ClusterID,
		Prefix:        p.Prefix,
		StateLineage:  p.Lineage,
		StateSerial:   p.Serial,
		Partial:       p.Partial,
		Changes:       make([]fileChange, 0, len(p.Changes)),
	}
	for _, ch := range p.Changes {
		fc := fileChange{
			ID: ch.ID, Target: ch.Target, Action: ch.Action, Reason: ch.Reason, Skipped: string(ch.Skipped), Warnings: ch.Warnings, Drift: ch.Drift,
			Sensitive: ch.Sensitive, BeforeSHA256: ch.BeforeHash, UID: ch.UID, GID: ch.GID,
		}
		if (ch.Action == Update || ch.Action == Delete) && ch.BeforeHash != "" && !ch.Sensitive {
			// For review only: apply compares the target with its hash.
			before := string(ch.Before)
			fc.Before = &before
		}
		if ch.Action == Create || ch.Action == Update {
			fc.AfterSHA256, fc.After = ch.AfterHash, string(ch.After)
			fc.Mode = bindings.FormatMode(ch.Mode)
			fc.AttrChange = ch.AttrChange
			fc.CheckCmd, fc.ReloadCmd = ch.CheckCmd, ch.ReloadCmd
			fc.CommandTimeout = ch.CommandTimeout.String()
		}
		f.Changes = append(f.Changes, fc)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	if buf.Len() > MaxFileSize {
		return hint.Wrap(&FileError{Path: path, Msg: fmt.Sprintf("the plan takes %d MiB, more than the %s a plan file may hold", buf.Len()>>20, atomicfile.FormatSize(MaxFileSize))},
			"save the plan of fewer bindings at a time with --target")
	}
	if err := atomicfile.Write(path, buf.Bytes(), atomicfile.Attrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		return fmt.Errorf("write plan file: %w", err)
	}
	return nil
}

// FileError is a plan file that cannot be used. What to do about it
// depends on the case: ReadFile and Write add the hint (hint.Wrap).
type FileError struct {
	Path string
	Msg  string
}

func (e *FileError) Error() string {
	if strings.HasPrefix(e.Msg, "is ") {
		return fmt.Sprintf("plan file %s %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("plan file %s: %s", e.Path, e.Msg)
}

// ReadFile loads a plan written by Write. It reads through
// atomicfile.Read: a symlink, FIFO, device or other non-regular file, or a
// file over MaxFileSize, is refused without being read.
func ReadFile(path string) (*Plan, error) {
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: MaxFileSize})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, hint.Wrap(&FileError{Path: path, Msg: re.What()}, "give the plan file itself, as `reconfig plan --out FILE` wrote it")
	case err != nil:
		return nil, &FileError{Path: path, Msg: fmt.Sprintf("cannot read: %v", atomicfile.WithoutPath(err))}
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, hint.Wrap(&FileError{Path: path, Msg: "is not a reconfig plan: " + strings.TrimPrefix(err.Error(), "json: ")},
			"make one with `reconfig plan --out FILE`")
	}
	if f.FormatVersion != FileVersion && f.FormatVersion != 1 {
		return nil, hint.Wrap(&FileError{Path: path, Msg: fmt.Sprintf("format version %d is not supported (want %d)", f.FormatVersion, FileVersion)},
			"make a new plan with this reconfig")
	}
	p := &Plan{Revision: f.Revision, ClusterID: f.ClusterID, Prefix: f.Prefix, Lineage: f.StateLineage,
		Serial: f.StateSerial, Partial: f.Partial, CreatedAt: f.CreatedAt}
	for _, fc := range f.Changes {
		ch := &Change{ID: fc.ID, Target: fc.Target, Action: fc.Action, Reason: fc.Reason, Skipped: SkipReason(fc.Skipped), Warnings: fc.Warnings, Drift: fc.Drift,
			Sensitive: fc.Sensitive, BeforeHash: fc.BeforeSHA256, UID: fc.UID, GID: fc.GID,
			AttrChange: fc.AttrChange, CheckCmd: fc.CheckCmd, ReloadCmd: fc.ReloadCmd}
		bad := func(msg string) error {
			return hint.Wrap(&FileError{Path: path, Msg: fmt.Sprintf("change %q: %s", fc.ID, msg)}, "make a new plan with `reconfig plan --out FILE`")
		}
		if fc.Before != nil {
			ch.Before = []byte(*fc.Before)
			if Hash(ch.Before) != fc.BeforeSHA256 {
				return nil, bad("its old content does not match its before_sha256 (the file was edited)")
			}
		}
		switch fc.Action {
		case Create, Update:
			ch.After = []byte(fc.After)
			ch.AfterHash = Hash(ch.After)
			if ch.AfterHash != fc.AfterSHA256 {
				return nil, bad("its content does not match its after_sha256 (the file was edited)")
			}
			m, err := bindings.ParseMode(fc.Mode)
			if err != nil {
				return nil, bad("mode " + err.Error())
			}
			ch.Mode = m
			if ch.CommandTimeout, err = time.ParseDuration(fc.CommandTimeout); err != nil {
				return nil, bad(fmt.Sprintf("command_timeout %q is not a duration", fc.CommandTimeout))
			}
		case Delete, Skip, Fail, NoOp, Orphan:
		default:
			return nil, bad(fmt.Sprintf("unknown action %q", fc.Action))
		}
		if fc.Target == "" {
			return nil, bad("it has no target")
		}
		p.Changes = append(p.Changes, ch)
	}
	return p, nil
}

// StaleError is a saved plan that no longer matches the world.
type StaleError struct {
	Path    string
	Reasons []string
}

var _ hint.Hinter = (*StaleError)(nil)

func (e *StaleError) Error() string {
	return fmt.Sprintf("plan file %s is stale: %s", e.Path, strings.Join(e.Reasons, "; "))
}

// Hint says what to do.
func (e *StaleError) Hint() string {
	return "make a new plan with `reconfig plan --out FILE` and review it again"
}

// CheckFresh refuses a saved plan when the state or any target it changes
// moved since the plan was made.
func (p *Plan) CheckFresh(path string, st *state.State) error {
	var reasons []string
	switch {
	case p.Lineage == "" && st.Exists():
		reasons = append(reasons, fmt.Sprintf("the plan was made before any state existed, and the state now has serial %d", st.Serial))
	case p.Lineage != st.Lineage:
		reasons = append(reasons, fmt.Sprintf("the state's lineage is %s, not %s", orNone(st.Lineage), p.Lineage))
	case p.Serial != st.Serial:
		reasons = append(reasons, fmt.Sprintf("the state moved from serial %d to %d", p.Serial, st.Serial))
	}
	for _, ch := range p.Changes {
		if !ch.Action.Changes() {
			continue
		}
		now, err := CurrentHash(ch.Target)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		if now != ch.BeforeHash {
			switch {
			case now == "":
				reasons = append(reasons, fmt.Sprintf("%s was deleted", ch.Target))
			case ch.BeforeHash == "":
				reasons = append(reasons, fmt.Sprintf("%s was created", ch.Target))
			default:
				reasons = append(reasons, fmt.Sprintf("%s changed", ch.Target))
			}
		}
	}
	if len(reasons) > 0 {
		return &StaleError{Path: path, Reasons: reasons}
	}
	return nil
}

// CurrentHash is the hex SHA-256 of the target at path, "" when it does
// not exist. It reads the way planning does (atomicfile.ReadCurrent): a
// symlink or other non-regular file, or one over MaxTargetSize, is an
// error naming the path.
func CurrentHash(path string) (string, error) {
	cur, err := atomicfile.ReadCurrent(path, MaxTargetSize)
	if err != nil || cur == nil {
		return "", err
	}
	return Hash(cur.Data), nil
}

func orNone(s string) string {
	if s == "" {
		return "none (no state)"
	}
	return s
}

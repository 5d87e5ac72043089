package plan

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/state"
)

// Reserved are the paths no binding may write: reconfig's own
// configuration (conf.d/ and templates/), where etcd data would become
// bindings — with the commands they run — or templates, and the state
// file with its lock and journal.
type Reserved struct {
	dirs  []string // each absolute and clean, with what it is
	files map[string]string
}

// ReservedFor returns the paths set and the state at statePath keep for
// themselves ("" for either: none of its own).
func ReservedFor(set *bindings.Set, statePath string) *Reserved {
	r := &Reserved{files: map[string]string{}}
	if set != nil && set.Dir != "" {
		for _, d := range []string{filepath.Join(set.Dir, "conf.d"), set.TemplatesDir} {
			r.dirs = append(r.dirs, forms(d)...)
		}
	}
	if statePath != "" {
		for path, what := range map[string]string{
			statePath:                    "reconfig's state file",
			state.LockPath(statePath):    "reconfig's state file's lock",
			state.JournalPath(statePath): "reconfig's journal of unchecked installs",
		} {
			for _, p := range forms(path) {
				r.files[p] = what
			}
		}
	}
	return r
}

// Check returns why target may not be written, or nil.
func (r *Reserved) Check(target string) error {
	what, own := r.What(target)
	switch {
	case what == "":
		return nil
	case own:
		return fmt.Errorf("target %s is %s, reconfig's own configuration: etcd data written there would become bindings (and the commands they run) or templates; write the target elsewhere", target, what)
	}
	return fmt.Errorf("target %s is %s; write the target elsewhere", target, what)
}

// What says which of reconfig's files path is ("" when none): "reconfig's
// state file", or "inside DIR" with own true for the configuration.
func (r *Reserved) What(path string) (what string, own bool) {
	for _, t := range forms(path) {
		if what, ok := r.files[t]; ok {
			return what, false
		}
		for _, d := range r.dirs {
			if strings.HasPrefix(t, d+string(filepath.Separator)) {
				return "inside " + d, true
			}
		}
	}
	return "", false
}

// forms are the ways path may be named: absolute and clean, and with its
// directory's symlinks resolved (when it exists).
func forms(path string) []string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return []string{filepath.Clean(path)}
	}
	out := []string{abs}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		if real := filepath.Join(dir, filepath.Base(abs)); real != abs {
			out = append(out, real)
		}
	}
	return out
}

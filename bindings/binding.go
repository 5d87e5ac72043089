package bindings

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// DefaultPattern is the template delimiter pair used when a binding names
// none.
const DefaultPattern = "{{ }}"

// DefaultCommandTimeout limits checkcmd and reloadcmd when a binding sets no
// command_timeout.
const DefaultCommandTimeout = 60 * time.Second

// DefaultRenderTimeout limits one render of a binding's template when the
// binding sets no render_timeout. Honest templates render in milliseconds;
// ten seconds is a runaway loop, and short enough that a daemon cycle or a
// SIGTERM is not held for long by one.
const DefaultRenderTimeout = 10 * time.Second

// Binding binds an etcd key to a template and the target file it renders.
type Binding struct {
	// ID names the binding in output, state and --target.
	ID string
	// File is the path of the binding file it was read from.
	File string

	Key       string
	Recursive bool
	// AltKeys maps a template-visible name to another key, read like a
	// recursive key.
	AltKeys map[string]string

	// Source is the template path relative to the templates directory;
	// SourcePath is its resolved absolute path.
	Source     string
	SourcePath string
	Target     string

	LeftDelim, RightDelim string

	CheckCmd       string
	ReloadCmd      string
	CommandTimeout time.Duration
	// RenderTimeout limits one render of the template; zero means
	// DefaultRenderTimeout.
	RenderTimeout time.Duration

	// Mode is the file mode to set; HasMode is false when the binding keeps
	// the existing file's mode (or 0644 for a new file).
	Mode    fs.FileMode
	HasMode bool
	// Owner and Group are names or numeric ids; "" keeps the existing.
	Owner, Group string

	Sensitive  bool
	AllowEmpty bool
}

// MainSelector is the read of the binding's own key.
func (b *Binding) MainSelector() snapshot.Selector {
	return snapshot.Selector{Key: b.Key, Recursive: b.Recursive}
}

// AltSelector is the read of one altkey.
func (b *Binding) AltSelector(name string) snapshot.Selector {
	return snapshot.Selector{Key: b.AltKeys[name], Recursive: true}
}

// AltNames are the altkey names, sorted.
func (b *Binding) AltNames() []string {
	names := make([]string, 0, len(b.AltKeys))
	for n := range b.AltKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Selectors are every read the binding makes: its key, then its altkeys.
func (b *Binding) Selectors() []snapshot.Selector {
	sels := []snapshot.Selector{b.MainSelector()}
	for _, n := range b.AltNames() {
		sels = append(sels, b.AltSelector(n))
	}
	return sels
}

// Reads reports whether a change of key matters to the binding.
func (b *Binding) Reads(key string) bool {
	for _, s := range b.Selectors() {
		if s.Match(key) {
			return true
		}
	}
	return false
}

// Set is the bindings of one configuration directory, sorted by ID.
type Set struct {
	// Dir is the configuration directory (the one holding conf.d).
	Dir string
	// TemplatesDir is Dir/templates.
	TemplatesDir string
	Bindings     []*Binding
	// Skipped are the files of conf.d that were not read: hidden ones,
	// backups, and the copies package managers and editors leave.
	Skipped []Skipped
}

// Get returns the binding with the id, or nil.
func (s *Set) Get(id string) *Binding {
	i := sort.Search(len(s.Bindings), func(i int) bool { return s.Bindings[i].ID >= id })
	if i < len(s.Bindings) && s.Bindings[i].ID == id {
		return s.Bindings[i]
	}
	return nil
}

// Selectors are the reads of every binding.
func (s *Set) Selectors() []snapshot.Selector {
	var sels []snapshot.Selector
	for _, b := range s.Bindings {
		sels = append(sels, b.Selectors()...)
	}
	return sels
}

// Select keeps only the bindings with the given ids; an unknown id is an
// error that lists the known ones.
func (s *Set) Select(ids []string) (*Set, error) {
	if len(ids) == 0 {
		return s, nil
	}
	out := &Set{Dir: s.Dir, TemplatesDir: s.TemplatesDir}
	seen := map[string]bool{}
	for _, id := range ids {
		b := s.Get(id)
		if b == nil {
			known := make([]string, 0, len(s.Bindings))
			for _, b := range s.Bindings {
				known = append(known, b.ID)
			}
			return nil, fmt.Errorf("no binding has id %q (known: %s)", id, strings.Join(known, ", "))
		}
		if !seen[id] {
			seen[id] = true
			out.Bindings = append(out.Bindings, b)
		}
	}
	sort.Slice(out.Bindings, func(i, j int) bool { return out.Bindings[i].ID < out.Bindings[j].ID })
	return out, nil
}

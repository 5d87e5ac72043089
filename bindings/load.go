package bindings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/shellquote"
)

// Error is one problem of one binding file.
type Error struct {
	File string
	// Line and Col locate the problem in the file when known (1-based).
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in a configuration directory.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// fileBinding is a binding file as written. Pointers tell "absent" from
// "empty".
type fileBinding struct {
	ID             *string           `json:"id"`
	Key            *string           `json:"key"`
	Recursive      bool              `json:"recursive"`
	Source         *string           `json:"source"`
	Target         *string           `json:"target"`
	Pattern        *string           `json:"pattern"`
	AltKeys        map[string]string `json:"altkeys"`
	CheckCmd       string            `json:"checkcmd"`
	ReloadCmd      string            `json:"reloadcmd"`
	Mode           *string           `json:"mode"`
	Owner          string            `json:"owner"`
	Group          string            `json:"group"`
	Sensitive      bool              `json:"sensitive"`
	AllowEmpty     bool              `json:"allow_empty"`
	CommandTimeout *string           `json:"command_timeout"`
	RenderTimeout  *string           `json:"render_timeout"`
}

// Load reads every binding file of dir/conf.d. The returned error, when not
// nil, is an Errors listing every problem found, or a plain error when the
// directory itself cannot be read.
func Load(dir string) (*Set, error) {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("configuration directory %s does not exist", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("configuration directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("configuration directory %s is not a directory", dir)
	}
	confd := filepath.Join(dir, "conf.d")
	files, skipped, err := bindingFiles(confd)
	if err != nil {
		return nil, err
	}
	set := &Set{Dir: dir, TemplatesDir: filepath.Join(dir, "templates"), Skipped: skipped}
	// The files are read and checked concurrently (each is a few system
	// calls and a JSON decode), their results kept in file order.
	type loaded struct {
		b    *Binding
		errs Errors
	}
	results := make([]loaded, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i].b, results[i].errs = loadFile(confd, files[i], set.TemplatesDir)
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	var errs Errors
	for _, r := range results {
		errs = append(errs, r.errs...)
		if r.b != nil {
			set.Bindings = append(set.Bindings, r.b)
		}
	}
	errs = append(errs, checkUnique(set.Bindings)...)
	sort.Slice(set.Bindings, func(i, j int) bool { return set.Bindings[i].ID < set.Bindings[j].ID })
	if len(errs) > 0 {
		return set, errs
	}
	return set, nil
}

// bindingFiles lists the binding files under confd: every regular file (or
// symlink to one), in subdirectories too, but hidden ones (whose name
// starts with "."), and those a package manager or an editor leaves beside
// the files it changes (SkippedFile), which it returns apart. Like
// logrotate and sudoers.d, reconfig reads neither: a web.json.dpkg-old
// read as a binding would write its old target again.
func bindingFiles(confd string) (files []string, skipped []Skipped, err error) {
	info, err := os.Stat(confd)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("binding directory %s does not exist", confd)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("binding directory: %w", err)
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("binding directory %s is not a directory", confd)
	}
	err = filepath.WalkDir(confd, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("binding directory: %w", err)
		}
		if path == confd {
			return nil
		}
		if why := SkippedFile(d.Name()); why != "" {
			skipped = append(skipped, Skipped{Path: path, Why: why})
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		files = append(files, path)
		return nil
	})
	return files, skipped, err
}

// Skipped is a file of conf.d that is not read (SkippedFile).
type Skipped struct {
	Path string
	// Why says what the file is taken for, like "a backup".
	Why string
}

// skippedSuffixes are the endings of the files that package managers and
// editors leave beside a configuration file, and what they are.
var skippedSuffixes = []struct{ suffix, what string }{
	{"~", "a backup"},
	{".bak", "a backup"},
	{".orig", "a backup"},
	{".rej", "a rejected patch"},
	{".swp", "an editor's swap file"},
	{".swo", "an editor's swap file"},
	{".tmp", "a temporary file"},
	{".dpkg-old", "dpkg's copy of the previous version"},
	{".dpkg-new", "dpkg's copy of the packaged version"},
	{".dpkg-dist", "dpkg's copy of the packaged version"},
	{".dpkg-bak", "dpkg's backup"},
	{".dpkg-tmp", "dpkg's temporary file"},
	{".ucf-old", "ucf's copy of the previous version"},
	{".ucf-new", "ucf's copy of the packaged version"},
	{".ucf-dist", "ucf's copy of the packaged version"},
	{".rpmsave", "rpm's copy of the previous version"},
	{".rpmorig", "rpm's copy of the previous version"},
	{".rpmnew", "rpm's copy of the packaged version"},
}

// SkippedFile says why a file or directory of conf.d named name is not
// read — hidden, or a backup, package-manager or editor file — or "" when
// it is.
func SkippedFile(name string) string {
	if strings.HasPrefix(name, ".") {
		return "hidden"
	}
	if len(name) > 2 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#") {
		return "an editor's autosave file"
	}
	for _, s := range skippedSuffixes {
		if strings.HasSuffix(name, s.suffix) {
			return s.what
		}
	}
	return ""
}

// MaxFileSize is the largest binding file read. A binding is a few hundred
// bytes of JSON; 1 MiB leaves room for any command line while a file that
// never ends cannot take the memory.
const MaxFileSize = 1 << 20

// loadFile reads the binding file at path under confd: the binding, or
// every problem of the file.
func loadFile(confd, path, templatesDir string) (*Binding, Errors) {
	fb, ferr := decodeFile(path)
	if ferr != nil {
		return nil, Errors{ferr}
	}
	rel, _ := filepath.Rel(confd, path)
	c := &fieldCheck{file: path}
	b := &Binding{File: path}
	b.ID = c.id(fb.ID, filepath.ToSlash(rel))
	b.Key = c.key(fb.Key)
	b.Recursive = fb.Recursive
	b.Source, b.SourcePath = c.source(fb.Source, templatesDir)
	b.Target = c.target(fb.Target)
	b.LeftDelim, b.RightDelim = c.pattern(fb.Pattern)
	b.AltKeys = c.altKeys(fb.AltKeys)
	b.CheckCmd = c.checkCmd(fb.CheckCmd)
	b.ReloadCmd = fb.ReloadCmd
	b.CommandTimeout = c.duration("command_timeout", fb.CommandTimeout, DefaultCommandTimeout)
	b.RenderTimeout = c.duration("render_timeout", fb.RenderTimeout, DefaultRenderTimeout)
	b.Mode, b.HasMode = c.mode(fb.Mode)
	b.Owner, b.Group = fb.Owner, fb.Group
	b.Sensitive = fb.Sensitive
	b.AllowEmpty = fb.AllowEmpty
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return b, nil
}

// decodeFile reads a binding file as written: one JSON object whose
// fields are all known and spelled exactly, once. The error locates the
// first problem.
func decodeFile(path string) (*fileBinding, *Error) {
	fail := func(line, col int, format string, args ...any) *Error {
		return &Error{File: path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
	}
	// Binding files are the operator's own and may be symlinks
	// (sites-enabled style): followed, but what they lead to must be a
	// regular file (bindingFiles skips anything else; this catches one
	// swapped in since), read without blocking and up to the cap.
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: MaxFileSize, FollowSymlink: true})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, fail(0, 0, "%s", re.What())
	case err != nil:
		return nil, fail(0, 0, "cannot read: %v", atomicfile.WithoutPath(err))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail(0, 0, "file is empty; want a JSON object with key, source and target")
	}
	var fb fileBinding
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fb); err != nil {
		line, col, msg := describeJSONError(data, err)
		return nil, fail(line, col, "%s", msg)
	}
	// Anything but white space after the object is an error, a stray "}"
	// included (dec.More does not see one).
	if rest := data[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		off := len(data) - len(bytes.TrimLeft(rest, " \t\r\n"))
		line, col := lineCol(data, off+1)
		return nil, fail(line, col, "invalid JSON: unexpected text after the object; a binding file holds one JSON object")
	}
	// encoding/json matches field names without regard to case and keeps
	// the last of repeated names; a binding file must spell each field
	// exactly, once.
	if line, col, msg := checkFieldNames(data); msg != "" {
		return nil, fail(line, col, "%s", msg)
	}
	return &fb, nil
}

// fieldCheck turns the fields of one decoded binding file into a
// binding's, collecting every problem rather than stopping at the first.
// Each method returns the field's value, or its zero value with a problem
// noted.
type fieldCheck struct {
	file string
	errs Errors
}

func (c *fieldCheck) bad(format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Msg: fmt.Sprintf(format, args...)})
}

// id is the "id" given, else def (the file's path under conf.d).
func (c *fieldCheck) id(v *string, def string) string {
	if v == nil {
		return def
	}
	switch {
	case *v == "":
		c.bad(`"id" is empty; remove it to use the file name, or name the binding`)
	case strings.IndexFunc(*v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		c.bad(`"id" %q contains white space or control characters`, *v)
	}
	return *v
}

func (c *fieldCheck) key(v *string) string {
	switch {
	case v == nil:
		c.bad(`"key" is required: the etcd key to render from, like "/services/web"`)
	case !strings.HasPrefix(*v, "/"):
		c.bad(`"key" %q must start with "/"`, *v)
	default:
		return *v
	}
	return ""
}

// source returns the template's path as given and as resolved under
// templatesDir.
func (c *fieldCheck) source(v *string, templatesDir string) (source, path string) {
	if v == nil {
		c.bad(`"source" is required: the template's path relative to %s`, templatesDir)
		return "", ""
	}
	path, err := resolveSource(templatesDir, *v)
	if err != nil {
		c.bad(`"source" %s`, err)
	}
	return *v, path
}

// target returns the clean absolute path of the file to write.
func (c *fieldCheck) target(v *string) string {
	switch {
	case v == nil:
		c.bad(`"target" is required: the absolute path of the file to write`)
	case *v == "":
		c.bad(`"target" is empty; want an absolute path`)
	case !filepath.IsAbs(*v):
		c.bad(`"target" %q must be an absolute path`, *v)
	case filepath.Clean(*v) == "/" || strings.HasSuffix(*v, "/"):
		c.bad(`"target" %q names a directory; want a file path`, *v)
	default:
		t := filepath.Clean(*v)
		if msg := nameTooLong(t); msg != "" {
			c.bad(`"target" %q: %s`, t, msg)
		}
		return t
	}
	return ""
}

// pattern returns the template delimiters of "pattern", else of
// DefaultPattern.
func (c *fieldCheck) pattern(v *string) (left, right string) {
	pattern := DefaultPattern
	if v != nil {
		pattern = *v
	}
	l, r, err := ParsePattern(pattern)
	if err != nil {
		c.bad(`"pattern" %q: %s`, pattern, err)
		return "", ""
	}
	return l, r
}

// altKeys returns the altkeys with a name and an absolute key (nil for
// none).
func (c *fieldCheck) altKeys(v map[string]string) map[string]string {
	if len(v) == 0 {
		return nil
	}
	out := make(map[string]string, len(v))
	for _, name := range sortedKeys(v) {
		key := v[name]
		switch {
		case name == "":
			c.bad(`"altkeys" has an empty name`)
		case !strings.HasPrefix(key, "/"):
			c.bad(`"altkeys" %q: key %q must start with "/"`, name, key)
		default:
			out[name] = key
		}
	}
	return out
}

func (c *fieldCheck) checkCmd(v string) string {
	// {{.src}} and {{.dest}} are put in quoted for where they stand; where
	// no quoting holds, say so now rather than at apply.
	if _, err := shellquote.Expand(v, map[string]string{"src": "", "dest": ""}); err != nil {
		c.bad(`"checkcmd": %v`, err)
	}
	return v
}

// duration reads a positive duration field, or returns def.
func (c *fieldCheck) duration(field string, v *string, def time.Duration) time.Duration {
	if v == nil {
		return def
	}
	d, err := time.ParseDuration(*v)
	switch {
	case err != nil:
		c.bad(`%q %q is not a duration; write it like "30s" or "2m"`, field, *v)
	case d <= 0:
		c.bad(`%q %q must be positive`, field, *v)
	default:
		return d
	}
	return def
}

// mode returns the "mode" given, and whether one was.
func (c *fieldCheck) mode(v *string) (fs.FileMode, bool) {
	if v == nil {
		return 0, false
	}
	m, err := ParseMode(*v)
	if err != nil {
		c.bad(`"mode" %s`, err)
		return 0, false
	}
	return m, true
}

// ParsePattern splits a pattern such as "#% %#" into its left and right
// template delimiters.
func ParsePattern(pattern string) (left, right string, err error) {
	f := strings.Fields(pattern)
	if len(f) != 2 {
		return "", "", errors.New(`must be two delimiters separated by a space, like "{{ }}" or "#% %#"`)
	}
	if f[0] == f[1] {
		return "", "", errors.New("the left and right delimiters must differ")
	}
	return f[0], f[1], nil
}

// nameTooLong says which name of the clean absolute path is longer than a
// file system takes (NAME_MAX), or "".
func nameTooLong(path string) string {
	dir, base := filepath.Split(path)
	if len(base) > atomicfile.NameMax {
		return fmt.Sprintf("its file name is %d bytes long; a file name has at most %d bytes", len(base), atomicfile.NameMax)
	}
	for _, name := range strings.Split(dir, "/") {
		if len(name) > atomicfile.NameMax {
			return fmt.Sprintf("the directory name %.40q... is %d bytes long; a file name has at most %d bytes", name, len(name), atomicfile.NameMax)
		}
	}
	return ""
}

// resolveSource returns the absolute path of a template, refusing any path
// that leaves the templates directory: absolute paths, "..", and symlinks
// that point outside.
func resolveSource(templatesDir, source string) (string, error) {
	switch {
	case source == "":
		return "", errors.New(`is empty; want a template path relative to templates/`)
	case filepath.IsAbs(source):
		return "", fmt.Errorf("%q must be relative to %s, not absolute", source, templatesDir)
	}
	clean := filepath.Clean(source)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%q escapes %s", source, templatesDir)
	}
	full := filepath.Join(templatesDir, clean)
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%q: template %s does not exist", source, full)
		}
		return "", fmt.Errorf("%q: %v", source, atomicfile.WithoutPath(err))
	}
	root, err := filepath.EvalSymlinks(templatesDir)
	if err != nil {
		return "", fmt.Errorf("%q: templates directory: %v", source, atomicfile.WithoutPath(err))
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%q escapes %s through a symlink (to %s)", source, templatesDir, real)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%q: %v", source, atomicfile.WithoutPath(err))
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%q: %s is not a regular file", source, full)
	}
	return full, nil
}

// checkUnique reports bindings that share an id or a target.
func checkUnique(bs []*Binding) Errors {
	var errs Errors
	ids := map[string]*Binding{}
	targets := map[string]*Binding{}
	for _, b := range bs {
		if o, ok := ids[b.ID]; ok {
			errs = append(errs, &Error{File: b.File, Msg: fmt.Sprintf("id %q is also used by %s; ids must be unique", b.ID, o.File)})
		} else {
			ids[b.ID] = b
		}
		if o, ok := targets[b.Target]; ok {
			errs = append(errs, &Error{File: b.File, Msg: fmt.Sprintf("target %s is also written by binding %q (%s); each target has one binding", b.Target, o.ID, o.File)})
		} else {
			targets[b.Target] = b
		}
	}
	return errs
}

// describeJSONError turns a decoding error into a message with its line and
// column.
func describeJSONError(data []byte, err error) (line, col int, msg string) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col = lineCol(data, int(syn.Offset))
		return line, col, "invalid JSON: " + strings.TrimPrefix(syn.Error(), "json: ")
	case errors.As(err, &typ):
		line, col = lineCol(data, int(typ.Offset))
		field := typ.Field
		if field == "" {
			return line, col, fmt.Sprintf("want a JSON object, not %s", typ.Value)
		}
		if strings.HasPrefix(field, "altkeys") && typ.Type.Kind() == reflect.String {
			return line, col, fmt.Sprintf(`"altkeys" values must be strings (etcd keys like "/db"), not %s`, typ.Value)
		}
		return line, col, fmt.Sprintf("%q must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		line, col = lineCol(data, len(data))
		return line, col, "invalid JSON: unexpected end of file (an unclosed { or \")"
	}
	s := err.Error()
	if name, ok := strings.CutPrefix(s, "json: unknown field "); ok {
		// Point at the field's name: the first occurrence followed by ":".
		for from := 0; ; {
			i := bytes.Index(data[from:], []byte(name))
			if i < 0 {
				break
			}
			from += i + len(name)
			if after := bytes.TrimLeft(data[from:], " \t\r\n"); len(after) > 0 && after[0] == ':' {
				line, col = lineCol(data, from-len(name)+1)
				break
			}
		}
		return line, col, fmt.Sprintf("unknown field %s; known fields: %s", name, strings.Join(fieldNames, ", "))
	}
	return 0, 0, "invalid JSON: " + strings.TrimPrefix(s, "json: ")
}

func jsonKind(k string) string {
	switch k {
	case "string", "ptr":
		return "a string"
	case "bool":
		return "true or false"
	case "map":
		return "an object of name → key"
	}
	return k
}

// lineCol converts a byte offset into a 1-based line and column. JSON
// decoders report the offset just after the bad byte.
func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	if off > 0 {
		off--
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Unwrap returns the problems one by one.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// knownFields are the binding file's field names.
// fieldNames are the binding file's field names, in the order messages
// list them; knownFields is the same set.
var fieldNames = []string{"id", "key", "recursive", "source", "target", "pattern", "altkeys", "checkcmd",
	"reloadcmd", "mode", "owner", "group", "sensitive", "allow_empty", "command_timeout", "render_timeout"}

var knownFields = func() map[string]bool {
	m := make(map[string]bool, len(fieldNames))
	for _, n := range fieldNames {
		m[n] = true
	}
	return m
}()

// checkFieldNames finds a top-level field named with the wrong case or
// given twice. data is known to hold one valid JSON object.
func checkFieldNames(data []byte) (line, col int, msg string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return 0, 0, ""
	}
	seen := map[string]bool{}
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return 0, 0, ""
		}
		name, _ := tok.(string)
		off := int(start) + bytes.IndexByte(data[start:], '"') + 1
		switch {
		case !knownFields[name] && knownFields[strings.ToLower(name)]:
			line, col = lineCol(data, off)
			return line, col, fmt.Sprintf("unknown field %q; field names are lowercase: %q", name, strings.ToLower(name))
		case seen[name]:
			line, col = lineCol(data, off)
			return line, col, fmt.Sprintf("field %q is given twice", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0, 0, ""
		}
	}
	return 0, 0, ""
}

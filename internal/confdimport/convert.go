package confdimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/shellquote"
	"github.com/reconfig/reconfig/plan"
)

// Options say what to import where.
type Options struct {
	// ConfDir is confd's directory, holding conf.d/ and templates/ (and
	// perhaps confd.toml).
	ConfDir string
	// CfgDir is reconfig's configuration directory to write into.
	CfgDir string
	// Force overwrites files that already exist in CfgDir.
	Force bool
}

// Import is a converted confd directory: what each resource became, and
// the files to write.
type Import struct {
	ConfDir string `json:"confdir"`
	CfgDir  string `json:"cfgdir"`
	// Prefix is the --prefix reconfig must run with to read what confd
	// read ("" for none), and PrefixFrom says where it came from.
	Prefix     string `json:"prefix,omitempty"`
	PrefixFrom string `json:"prefix_from,omitempty"`
	// Notes are about the directory as a whole (confd.toml).
	Notes     []string    `json:"notes,omitempty"`
	Resources []*Resource `json:"resources"`

	files []file
}

// Resource is what one confd template resource became.
type Resource struct {
	// File is the resource file, relative to ConfDir.
	File string `json:"file"`
	ID   string `json:"id"`
	// Binding and Template are the files written, relative to CfgDir.
	Binding  string `json:"binding"`
	Template string `json:"template"`
	// Mapped says, field by field, what the resource's fields became.
	Mapped []Mapping `json:"mapped"`
	// Hand lists what could not be carried over as it is.
	Hand []Problem `json:"needs_hand"`
}

// Mapping is one confd field and the binding field it became.
type Mapping struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Problem is something of a resource that needs the operator's hand.
// Where is a file (relative to CfgDir or ConfDir) with a line, or "".
type Problem struct {
	Where string `json:"where,omitempty"`
	Msg   string `json:"message"`
}

// Error is a problem that stops the import: nothing is written.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	if e.File == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem that stops an import.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the problems one by one.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// file is one file to write under CfgDir.
type file struct {
	rel  string // relative to CfgDir
	data []byte
	perm fs.FileMode
}

// binding is a binding file as the import writes it, fields in the order
// an operator reads them.
type binding struct {
	ID        string            `json:"id"`
	Key       string            `json:"key"`
	Recursive bool              `json:"recursive"`
	AltKeys   map[string]string `json:"altkeys,omitempty"`
	Source    string            `json:"source"`
	Target    string            `json:"target"`
	Mode      string            `json:"mode,omitempty"`
	Owner     string            `json:"owner,omitempty"`
	Group     string            `json:"group,omitempty"`
	CheckCmd  string            `json:"checkcmd,omitempty"`
	ReloadCmd string            `json:"reloadcmd,omitempty"`
}

// parsed is a resource file read, before conversion.
type parsed struct {
	path, rel string
	res       *resource
	undecoded []string
	// prefix is the prefix confd read the keys under: confd.toml's, else
	// the resource's; "" for none.
	prefix string
	// perm is the mode of the binding file made of it (filePerm).
	perm fs.FileMode
}

// Convert reads the confd directory and works out the bindings and
// templates it becomes. It writes nothing; an error (an Errors naming each
// file and line) means nothing would be.
func Convert(opts Options) (*Import, error) {
	imp := &Import{ConfDir: opts.ConfDir, CfgDir: opts.CfgDir}
	if sameDir(opts.ConfDir, opts.CfgDir) {
		return nil, fmt.Errorf("%s is confd's directory: reconfig would read confd's *.toml files as bindings; import into another --cfgdir, like /etc/reconfig", opts.CfgDir)
	}
	files, err := resourceFiles(opts.ConfDir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no template resources (*.toml)", filepath.Join(opts.ConfDir, "conf.d"))
	}
	var errs Errors
	global, gerr := imp.readSettings()
	if gerr != nil {
		errs = append(errs, gerr)
	}

	var ps []*parsed
	for _, f := range files {
		p, err := readResource(opts.ConfDir, f, global)
		if err != nil {
			errs = append(errs, err...)
			continue
		}
		ps = append(ps, p)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	// One prefix shared by every resource becomes reconfig's --prefix, so
	// that the templates read the keys as they did; differing ones cannot.
	shared := true
	for _, p := range ps {
		shared = shared && p.prefix == ps[0].prefix
	}
	if shared && ps[0].prefix != "" {
		imp.Prefix = ps[0].prefix
		imp.PrefixFrom = "every resource's prefix"
		if global != nil {
			imp.PrefixFrom = "confd.toml"
		}
	}

	templates := map[string]bool{} // sources already copied
	ids := map[string]string{}
	targets := map[string]string{}
	// Where the bindings go: no dest may be there.
	reserved := plan.ReservedFor(&bindings.Set{Dir: opts.CfgDir, TemplatesDir: filepath.Join(opts.CfgDir, "templates")}, "")
	for _, p := range ps {
		r, b, text, tperm, rerrs := imp.convert(p, shared)
		errs = append(errs, rerrs...)
		if r == nil {
			continue
		}
		if err := reserved.Check(b.Target); err != nil {
			errs = append(errs, &Error{File: p.path, Msg: "dest: " + err.Error()})
		}
		if o, ok := ids[r.ID]; ok {
			errs = append(errs, &Error{File: p.path, Msg: fmt.Sprintf("becomes binding %q, as %s does; rename one of them", r.ID, o)})
		}
		ids[r.ID] = p.path
		if o, ok := targets[b.Target]; ok {
			errs = append(errs, &Error{File: p.path, Msg: fmt.Sprintf("dest %s is also the dest of %s; reconfig writes each target from one binding", b.Target, o)})
		}
		targets[b.Target] = p.path
		data, err := marshalBinding(b)
		if err != nil {
			errs = append(errs, &Error{File: p.path, Msg: err.Error()})
			continue
		}
		imp.files = append(imp.files, file{rel: r.Binding, data: data, perm: p.perm})
		if !templates[b.Source] {
			templates[b.Source] = true
			imp.files = append(imp.files, file{rel: r.Template, data: text, perm: tperm})
		}
		imp.Resources = append(imp.Resources, r)
	}
	errs = append(errs, imp.checkExisting(opts.Force)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return imp, nil
}

// sameDir reports whether a and b are one directory.
func sameDir(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

// readSettings reads ConfDir/confd.toml if there is one; nil when not, or
// when it sets no prefix.
func (imp *Import) readSettings() (*string, *Error) {
	p := filepath.Join(imp.ConfDir, "confd.toml")
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var s settings
	if _, _, err := readTOML(p, &s); err != nil {
		var e *Error
		errors.As(err, &e)
		return nil, e
	}
	switch s.Backend {
	case "", "etcd", "etcdv3":
		if len(s.Nodes) > 0 {
			imp.Notes = append(imp.Notes, fmt.Sprintf("confd.toml names the etcd nodes %s: give reconfig --endpoints %s (or RECONFIG_ENDPOINTS)", strings.Join(s.Nodes, ", "), strings.Join(s.Nodes, ",")))
		}
	default:
		imp.Notes = append(imp.Notes, fmt.Sprintf("confd.toml reads the %s backend; reconfig reads etcd: copy the keys into etcd first", s.Backend))
	}
	if s.Prefix == nil || cleanPrefix(*s.Prefix) == "" {
		return nil, nil
	}
	pre := cleanPrefix(*s.Prefix)
	return &pre, nil
}

// readResource reads one resource file and checks what confd itself would
// refuse, or reconfig could not take at all.
func readResource(confDir, path string, global *string) (*parsed, Errors) {
	var rf resourceFile
	undecoded, perm, err := readTOML(path, &rf)
	if err != nil {
		var e *Error
		errors.As(err, &e)
		return nil, Errors{e}
	}
	rel, _ := filepath.Rel(filepath.Join(confDir, "conf.d"), path)
	p := &parsed{path: path, rel: filepath.ToSlash(rel), res: rf.Template, undecoded: undecoded, perm: perm}
	var errs Errors
	bad := func(format string, args ...any) {
		errs = append(errs, &Error{File: path, Msg: fmt.Sprintf(format, args...)})
	}
	r := rf.Template
	if r == nil {
		bad("no [template] table; a confd template resource starts with [template]")
		return nil, errs
	}
	switch {
	case r.Src == "":
		bad("src is empty or missing: the template to render, relative to %s", filepath.Join(confDir, "templates"))
	case filepath.IsAbs(r.Src) || path2Escapes(r.Src):
		bad("src %q leaves %s; reconfig's templates stay inside templates/", r.Src, filepath.Join(confDir, "templates"))
	}
	switch {
	case r.Dest == "":
		bad("dest is empty or missing: the file to write")
	case !filepath.IsAbs(r.Dest):
		bad("dest %q is relative (to the directory confd ran in); reconfig needs an absolute path", r.Dest)
	}
	if len(r.Keys) == 0 {
		bad("keys is empty or missing; a reconfig binding renders from at least one key: add the keys the template reads")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	p.prefix = cleanPrefix(r.Prefix)
	if global != nil {
		p.prefix = *global
	}
	return p, nil
}

func path2Escapes(src string) bool {
	c := path.Clean(filepath.ToSlash(src))
	return c == ".." || strings.HasPrefix(c, "../")
}

// cleanPrefix is a prefix as confd reads it: rooted and clean, "" for none.
func cleanPrefix(p string) string {
	c := path.Join("/", p)
	if c == "/" {
		return ""
	}
	return c
}

// convert maps one resource onto a binding. shared tells whether every
// resource has the same prefix (then Prefix holds it, or "").
func (imp *Import) convert(p *parsed, shared bool) (*Resource, *binding, []byte, fs.FileMode, Errors) {
	r := p.res
	id := strings.TrimSuffix(strings.TrimSuffix(p.rel, "toml"), ".")
	id = strings.TrimLeft(strings.ReplaceAll(id, " ", "_"), ".")
	if id == "" {
		id = "resource"
	}
	src := path.Clean(filepath.ToSlash(r.Src))
	res := &Resource{
		File:     filepath.ToSlash(filepath.Join("conf.d", p.rel)),
		ID:       id,
		Binding:  "conf.d/" + id + ".json",
		Template: "templates/" + src,
	}
	b := &binding{ID: id, Source: src, Target: filepath.Clean(r.Dest), Recursive: true}
	hand := func(where, format string, args ...any) {
		res.Hand = append(res.Hand, Problem{Where: where, Msg: fmt.Sprintf(format, args...)})
	}
	mapped := func(from, format string, args ...any) {
		res.Mapped = append(res.Mapped, Mapping{From: from, To: fmt.Sprintf(format, args...)})
	}
	mapped("src", "source %s", src)
	mapped("dest", "target %s", b.Target)

	// Keys: full keys are prefix + key. With one shared prefix reconfig
	// strips it (--prefix) and the binding names the keys as confd's
	// templates do.
	keyPrefix := p.prefix
	if shared {
		keyPrefix = ""
	}
	keys := mapKeys(keyPrefix, r.Keys)
	b.Key = keys[0]
	if len(keys) > 1 {
		b.AltKeys = map[string]string{}
		for _, k := range keys[1:] {
			b.AltKeys[altName(k)] = k
		}
	}
	desc := fmt.Sprintf("key %s (recursive)", b.Key)
	if len(keys) > 1 {
		desc += fmt.Sprintf(" and altkeys %s", strings.Join(keys[1:], ", "))
	}
	if d := len(r.Keys) - len(keys); d > 0 {
		desc += fmt.Sprintf("; %d repeated or covered key%s dropped", d, plural(d))
	}
	mapped("keys", "%s", desc)
	if p.prefix != "" {
		if shared {
			mapped("prefix", "reconfig --prefix %s", p.prefix)
		} else {
			mapped("prefix", "keys under %s", p.prefix)
		}
	}

	tmplPath := filepath.Join(imp.ConfDir, "templates", filepath.FromSlash(src))
	text, tperm, terr := readTemplate(filepath.Join(imp.ConfDir, "templates"), tmplPath)
	if terr != nil {
		return nil, nil, nil, 0, Errors{terr}
	}
	calls, err := scan(src, string(text))
	if err != nil {
		hand(res.Template, "the template does not parse (confd could not render it either): %v", err)
	}
	for _, c := range missingFuncs(calls) {
		hand(fmt.Sprintf("%s:%d", res.Template, c.Line), "%s %s", c.Func, funcAdvice(c.Func))
	}
	if p.prefix != "" && !shared {
		var lines []string
		for _, c := range calls {
			if c.Key != "" {
				lines = append(lines, fmt.Sprintf("line %d: %s %q → %q", c.Line, c.Func, c.Key, joinKey(p.prefix, c.Key)))
			}
		}
		msg := fmt.Sprintf("the template reads keys relative to prefix %s, and other resources use another prefix, so reconfig cannot strip it for all: write the full keys in the template", p.prefix)
		if len(lines) > 0 {
			msg += " (" + strings.Join(lines, "; ") + ")"
		}
		msg += fmt.Sprintf(", or import the resources of each prefix into a --cfgdir of their own and run reconfig there with --prefix %s", p.prefix)
		hand(res.Template, "%s", msg)
	}

	imp.mapMode(r.Mode, b, mapped, hand)
	mapOwner(r, b, mapped, hand)
	if r.CheckCmd != "" {
		b.CheckCmd = r.CheckCmd
		mapCheck(r.CheckCmd, mapped, hand)
	}
	if r.ReloadCmd != "" {
		b.ReloadCmd = r.ReloadCmd
		mapped("reload_cmd", "reloadcmd (once per cycle for bindings that share it)")
	}
	for _, k := range p.undecoded {
		hand(res.File, "%s is not a field of a confd template resource (confd ignored it); not imported", k)
	}
	return res, b, text, tperm, nil
}

// mapKeys turns confd's keys into full keys, without repeats and without
// keys under another key of the list (a recursive read covers them), in
// their order.
func mapKeys(prefix string, keys []string) []string {
	var full []string
	for _, k := range keys {
		full = append(full, path.Join("/", prefix, k))
	}
	var out []string
	for i, k := range full {
		covered := false
		for j, o := range full {
			switch {
			case o == k && j < i:
				covered = true
			case o != k && (o == "/" || strings.HasPrefix(k, o+"/")):
				covered = true
			}
		}
		if !covered {
			out = append(out, k)
		}
	}
	return out
}

// altName names an altkey after its key: "/database/port" is
// "database/port".
func altName(key string) string {
	if key == "/" {
		return "root"
	}
	return strings.TrimPrefix(key, "/")
}

// joinKey is a template's key read under prefix.
func joinKey(prefix, key string) string {
	if strings.HasPrefix(key, "/") {
		return prefix + key
	}
	return prefix + "/" + key
}

// mapMode maps confd's mode, which confd reads with Go's base prefixes
// ("0644" octal, "644" decimal!) and applies without the setuid, setgid
// and sticky bits.
func (imp *Import) mapMode(mode string, b *binding, mapped func(string, string, ...any), hand func(string, string, ...any)) {
	if mode == "" {
		mapped("mode", "(none: keep the target's mode, 0644 for a new file, as confd)")
		return
	}
	n, err := strconv.ParseUint(mode, 0, 32)
	if err != nil {
		hand("", "mode %q is not a number confd could read (it failed every run); not imported: set \"mode\" by hand", mode)
		return
	}
	perm := n & 0o777
	b.Mode = fmt.Sprintf("%04o", perm)
	mapped("mode", "mode %s", b.Mode)
	if m, err := bindings.ParseMode(mode); err != nil || uint64(m.Perm()) != n {
		switch {
		case !strings.HasPrefix(mode, "0"):
			hand("", "mode %q has no leading 0, so confd read it as the decimal %d and set mode %04o; imported as %q, which is what confd did: you likely meant \"0%s\"", mode, n, perm, b.Mode, mode)
		case n&^0o777 != 0:
			hand("", "mode %q: confd dropped the bits above 0777 and set %04o; imported as %q, which is what confd did", mode, perm, b.Mode)
		}
	}
}

// mapOwner maps uid and gid, which confd applied, and owner, which confd's
// documentation shows but confd ignored.
func mapOwner(r *resource, b *binding, mapped func(string, string, ...any), hand func(string, string, ...any)) {
	if r.UID != nil && *r.UID >= 0 {
		b.Owner = strconv.Itoa(*r.UID)
		mapped("uid", "owner %s", b.Owner)
	}
	if r.GID != nil && *r.GID >= 0 {
		b.Group = strconv.Itoa(*r.GID)
		mapped("gid", "group %s", b.Group)
	}
	switch {
	case r.Owner != "" && b.Owner != "":
		hand("", "owner %q is not imported: confd ignores owner and applied uid %s, and so does the binding", r.Owner, b.Owner)
	case r.Owner != "":
		b.Owner = r.Owner
		mapped("owner", "owner %s (confd ignored owner and left the file to the user it ran as; reconfig sets it)", r.Owner)
	}
	if b.Owner == "" && b.Group == "" {
		mapped("uid/gid", "(none: keep the target's owner, the running user for a new file)")
	}
}

// actionRE finds the template actions of a check_cmd; srcRE the
// {{.src}} placeholder that reconfig shares with confd.
var (
	actionRE = regexp.MustCompile(`\{\{.*?\}\}`)
	placeRE  = regexp.MustCompile(`^\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)
)

// mapCheck maps check_cmd. confd runs it as a Go template with .src (the
// staged file) and nothing else; reconfig replaces {{.src}} and {{.dest}},
// quoted for the shell.
func mapCheck(cmd string, mapped func(string, string, ...any), hand func(string, string, ...any)) {
	hasSrc := false
	for _, a := range actionRE.FindAllString(cmd, -1) {
		m := placeRE.FindStringSubmatch(a)
		switch {
		case m != nil && m[1] == "src":
			hasSrc = true
		case m != nil && m[1] == "dest":
			hand("", "check_cmd: confd has no %s (it ran the command with \"<no value>\" there); reconfig puts the target's path in its place", a)
		default:
			hand("", "check_cmd: %s is a template action reconfig does not run; reconfig replaces only {{.src}} (the staged file) and {{.dest}} (the target): rewrite it with those", a)
		}
	}
	if _, err := shellquote.Expand(cmd, map[string]string{"src": "", "dest": ""}); err != nil {
		hand("", "check_cmd: %v: reconfig quotes {{.src}} for the shell, and validate refuses this; move it out", err)
	}
	if hasSrc {
		mapped("check_cmd", "checkcmd, {{.src}} the staged file as in confd (reconfig also quotes it for the shell)")
	} else {
		mapped("check_cmd", "checkcmd; without {{.src}} reconfig runs it after installing the new file and puts the old one back if it fails (confd ran it before, against the old file)")
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func marshalBinding(b *binding) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("binding %s: %w", b.ID, err)
	}
	return buf.Bytes(), nil
}

// readTemplate reads the confd template p of templates dir, refusing what
// reconfig would not read either: not a regular file, too large, or a
// symlink that leads out of dir (as root, the import would copy any file
// of the system into the configuration). It also returns the mode of the
// template the import writes (filePerm).
func readTemplate(dir, p string) ([]byte, fs.FileMode, *Error) {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		root, rerr := filepath.EvalSymlinks(dir)
		if rel, err := filepath.Rel(root, real); rerr != nil || err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, 0, &Error{File: p, Msg: fmt.Sprintf("is a symlink out of %s (to %s); reconfig's templates stay inside templates/: copy the file there", dir, real)}
		}
	}
	data, info, err := atomicfile.Read(p, atomicfile.ReadOptions{Max: render.MaxTemplate, FollowSymlink: true})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, 0, &Error{File: p, Msg: re.What()}
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0, &Error{File: p, Msg: "template does not exist"}
	case err != nil:
		return nil, 0, &Error{File: p, Msg: fmt.Sprintf("cannot read: %v", atomicfile.WithoutPath(err))}
	}
	return data, filePerm(info.Mode()), nil
}

// checkExisting refuses, unless force, to overwrite a file of CfgDir, and
// always refuses a binding that would share an id or a target with a
// binding of CfgDir that stays.
func (imp *Import) checkExisting(force bool) Errors {
	var errs Errors
	writes := map[string]bool{}
	for _, f := range imp.files {
		full := filepath.Join(imp.CfgDir, filepath.FromSlash(f.rel))
		writes[full] = true
		if _, err := os.Lstat(full); err == nil && !force {
			errs = append(errs, &Error{File: full, Msg: "exists; give --force to overwrite it, or import into another --cfgdir"})
		}
	}
	if _, err := os.Stat(filepath.Join(imp.CfgDir, "conf.d")); err != nil {
		return errs
	}
	set, _ := bindings.Load(imp.CfgDir)
	if set == nil {
		return errs
	}
	for _, eb := range set.Bindings {
		if writes[eb.File] {
			continue
		}
		for _, r := range imp.Resources {
			if eb.ID == r.ID {
				errs = append(errs, &Error{File: eb.File, Msg: fmt.Sprintf("binding %q already exists; the resource %s would become a second one", eb.ID, r.File)})
			}
		}
	}
	for _, f := range imp.files {
		var b binding
		if !strings.HasPrefix(f.rel, "conf.d/") || json.Unmarshal(f.data, &b) != nil {
			continue
		}
		for _, eb := range set.Bindings {
			if !writes[eb.File] && eb.Target == b.Target {
				errs = append(errs, &Error{File: eb.File, Msg: fmt.Sprintf("binding %q already writes %s, the dest of binding %q", eb.ID, b.Target, b.ID)})
			}
		}
	}
	return errs
}

// Write writes the bindings and templates into CfgDir, all or none:
// every file is staged beside its place (its directory made when it is
// missing) before any is renamed into place, so that what can fail — a
// directory that cannot be made or written, a directory where a file
// goes, a full disk — fails before a file of CfgDir was replaced. On an
// error the staged files and the directories made go again.
func (imp *Import) Write() error {
	var made []string // directories made, outermost first
	var staged []*atomicfile.Staged
	undo := func() {
		for _, s := range staged {
			s.Discard()
		}
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i])
		}
	}
	dirs := map[string]bool{}
	for _, f := range imp.files {
		full := filepath.Join(imp.CfgDir, filepath.FromSlash(f.rel))
		dir := filepath.Dir(full)
		if err := mkdirAll(dir, &made); err != nil {
			undo()
			return fmt.Errorf("import: directory %s: %w; nothing was written", dir, atomicfile.WithoutPath(err))
		}
		// A rename replaces a file or a link, not a directory (nor should
		// it replace a FIFO or a device someone put there).
		if info, err := os.Lstat(full); err == nil && !info.Mode().IsRegular() && info.Mode().Type() != fs.ModeSymlink {
			undo()
			what := "is not a regular file"
			if info.IsDir() {
				what = "is a directory"
			}
			return fmt.Errorf("import: %s %s, where the import writes a file; nothing was written", full, what)
		}
		s, err := atomicfile.Stage(full, f.data, atomicfile.Attrs{Mode: f.perm, UID: -1, GID: -1})
		if err != nil {
			undo()
			return fmt.Errorf("import: %w; nothing was written", err)
		}
		staged = append(staged, s)
		dirs[dir] = true
	}
	for i, s := range staged {
		if err := s.Commit(); err != nil {
			done := make([]string, 0, i)
			for _, f := range imp.files[:i] {
				done = append(done, f.rel)
			}
			staged = staged[i:]
			undo()
			if len(done) == 0 {
				return fmt.Errorf("import: %w; nothing was written", err)
			}
			return fmt.Errorf("import: %w; already written: %s", err, strings.Join(done, ", "))
		}
	}
	for dir := range dirs {
		if err := atomicfile.SyncDir(dir); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	return nil
}

// mkdirAll makes dir and its missing parents, appending each one it made
// to made, outermost first.
func mkdirAll(dir string, made *[]string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return err
		}
		*made = append(*made, missing[i])
	}
	if info, err := os.Stat(dir); err != nil {
		return err
	} else if !info.IsDir() {
		return errors.New("not a directory")
	}
	return nil
}

// Files are the files Write writes, relative to CfgDir, in order.
func (imp *Import) Files() []string {
	out := make([]string, len(imp.files))
	for i, f := range imp.files {
		out[i] = f.rel
	}
	sort.Strings(out)
	return out
}

package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// MaxOutput is the largest target a template may render.
const MaxOutput = 32 << 20

// Template is a binding's checked template. It keeps the source, and
// parsed copies of it in a pool: a copy's functions are bound to a run of
// its own, which each render that takes the copy resets for its keys, so a
// render parses the template only when no copy is free. The pool is
// emptied by the garbage collector, which keeps an idle daemon with
// thousands of bindings small; the Templates compiled from one file by one
// Compiler share it.
type Template struct {
	Binding *bindings.Binding
	src     string
	parsed  *sync.Pool // of *parsed
}

// parsed is a parsed and instrumented copy of a template, its functions
// bound to r.
type parsed struct {
	tmpl *template.Template
	r    *run
}

// Error is a template that cannot be parsed or rendered. A render stopped
// by its render_timeout wraps ErrTimeout; one stopped by its context wraps
// the context's cause.
type Error struct {
	Binding  string
	Template string // path of the template file
	Line     int    // 0 when unknown
	Key      string // the etcd key involved, if any
	Msg      string
	// Err is the underlying error (a *KeyError for a missing key).
	Err error
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "binding %q: template %s", e.Binding, e.Template)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Compile reads and parses the template of b.
func Compile(b *bindings.Binding) (*Template, error) {
	// The operator's own file: a symlink (inside templates/, as the
	// binding's validation checked) is followed, but what it leads to must
	// be a regular file, read without blocking, of at most MaxTemplate.
	src, _, err := atomicfile.Read(b.SourcePath, atomicfile.ReadOptions{Max: MaxTemplate, FollowSymlink: true})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, &Error{Binding: b.ID, Template: b.SourcePath, Msg: "cannot read: it " + re.What()}
	case err != nil:
		return nil, &Error{Binding: b.ID, Template: b.SourcePath, Msg: fmt.Sprintf("cannot read: %v", atomicfile.WithoutPath(err))}
	}
	return CompileText(b, string(src))
}

// Compiler compiles the templates of the bindings of one configuration:
// a template file that many bindings name with the same delimiters is read
// and parsed once for all of them. A template that fails is compiled
// again for each binding, so that each gets its own error.
type Compiler struct {
	checked map[compileKey]*Template
}

// compileKey is what a parse depends on: the file, the name it is parsed
// under and the delimiters.
type compileKey struct {
	path, name, left, right string
}

// Compile reads and parses the template of b, or reuses the source of a
// template already checked for another binding.
func (c *Compiler) Compile(b *bindings.Binding) (*Template, error) {
	key := compileKey{path: b.SourcePath, name: b.Source, left: b.LeftDelim, right: b.RightDelim}
	if t, ok := c.checked[key]; ok {
		return &Template{Binding: b, src: t.src, parsed: t.parsed}, nil
	}
	t, err := Compile(b)
	if err != nil {
		return nil, err
	}
	if c.checked == nil {
		c.checked = map[compileKey]*Template{}
	}
	c.checked[key] = t
	return t, nil
}

// MaxTemplate is the largest template file reconfig reads.
const MaxTemplate = 4 << 20

// CompileText checks that src parses as the template of b.
func CompileText(b *bindings.Binding, src string) (*Template, error) {
	if _, err := parseTemplate(b, src, funcStubs); err != nil {
		return nil, parseError(b, err)
	}
	return &Template{Binding: b, src: src, parsed: &sync.Pool{}}, nil
}

func parseTemplate(b *bindings.Binding, src string, fm template.FuncMap) (*template.Template, error) {
	return template.New(b.Source).
		Delims(b.LeftDelim, b.RightDelim).
		Option("missingkey=error").
		Funcs(fm).
		Parse(src)
}

// Values is the data a template sees as ".".
type Values struct {
	// Data maps each key read for the binding's key to its value.
	Data map[string]string
	// AltData maps each altkey name to its keys and values.
	AltData map[string]map[string]string
	// Watched is the binding's key.
	Watched string
	// Revision is the snapshot's etcd revision.
	Revision int64
	// ID is the binding's id.
	ID string
}

// Input is what a binding reads from a snapshot.
type Input struct {
	Values Values
	// Store holds every key/value the binding may see (key and altkeys),
	// sorted by key, for getv, ls and the other key functions.
	store store
}

// Empty reports whether the binding's own key has no data: a missing
// non-recursive key, or a recursive key with nothing under it.
func (in *Input) Empty() bool { return len(in.Values.Data) == 0 }

// Gather reads the binding's keys from the snapshot.
func Gather(b *bindings.Binding, snap *snapshot.Snapshot) (*Input, error) {
	in := &Input{Values: Values{
		Data:     map[string]string{},
		AltData:  map[string]map[string]string{},
		Watched:  b.Key,
		Revision: snap.Revision,
		ID:       b.ID,
	}}
	sels := b.Selectors()
	in.store.sels = sels
	main, err := snap.Select(b.MainSelector())
	if err != nil {
		return nil, err
	}
	for _, kv := range main {
		in.Values.Data[kv.Key] = kv.Value
	}
	lists := [][]snapshot.KV{main}
	for _, name := range b.AltNames() {
		kvs, err := snap.Select(b.AltSelector(name))
		if err != nil {
			return nil, err
		}
		m := make(map[string]string, len(kvs))
		for _, kv := range kvs {
			m[kv.Key] = kv.Value
		}
		in.Values.AltData[name] = m
		lists = append(lists, kvs)
	}
	in.store.kvs = mergeSorted(lists)
	for _, kv := range in.store.kvs {
		in.store.size += int64(len(kv.Key) + len(kv.Value))
	}
	return in, nil
}

// Execute renders the template with the input. The render stops, with an
// error, when the binding's render_timeout passes or when ctx ends: a
// runaway template never holds its caller, nor the other bindings.
func (t *Template) Execute(ctx context.Context, in *Input) ([]byte, error) {
	b := t.Binding
	if ctx.Err() != nil {
		return nil, t.stopError(ctx, nil)
	}
	p, err := t.take()
	if err != nil {
		return nil, err
	}
	r, tmpl := p.r, p.tmpl
	r.reset(&in.store)
	// A timer and ctx set the flag that the render checks: checking the
	// time itself at every step would cost more.
	rctx, cancel := context.WithTimeout(ctx, t.timeout())
	defer cancel()
	stopAfter := context.AfterFunc(rctx, r.stop)
	defer func() {
		// A copy whose stop may still run goes, not back to the pool.
		if stopAfter() {
			t.parsed.Put(p)
		}
	}()
	out := limitedBuffer{limit: MaxOutput, run: r}
	if err := tmpl.Execute(&out, in.Values); err != nil {
		switch {
		case errors.Is(err, errStopped):
			return nil, t.stopError(ctx, err)
		case errors.Is(err, errTooLarge):
			return nil, &Error{Binding: b.ID, Template: b.SourcePath, Msg: fmt.Sprintf("rendered output is larger than %d MiB", MaxOutput>>20)}
		}
		return nil, execError(b, t.src, err)
	}
	if err := checkText(out.Bytes()); err != nil {
		e := &Error{Binding: b.ID, Template: b.SourcePath,
			Msg: "rendered output " + err.Error() + "; config files must be text (use base64Encode to embed binary values)"}
		if b.Sensitive {
			e.Msg = "rendered output is not text " + hidden + "; config files must be text (use base64Encode to embed binary values)"
		}
		if k := binaryKey(in.store.kvs, out.Bytes()); k != "" {
			e.Key = k
			e.Msg = fmt.Sprintf("key %s holds binary data: %s", k, e.Msg)
		}
		return nil, e
	}
	return out.Bytes(), nil
}

// take returns a parsed copy of the template from the pool, or parses one.
func (t *Template) take() (*parsed, error) {
	if p, ok := t.parsed.Get().(*parsed); ok {
		return p, nil
	}
	r := &run{}
	tmpl, err := parseTemplate(t.Binding, t.src, funcs(r))
	if err != nil {
		return nil, parseError(t.Binding, err)
	}
	instrument(tmpl)
	return &parsed{tmpl: tmpl, r: r}, nil
}

// timeout is the binding's render_timeout, or the default.
func (t *Template) timeout() time.Duration {
	if d := t.Binding.RenderTimeout; d > 0 {
		return d
	}
	return bindings.DefaultRenderTimeout
}

// stopError reports a render stopped by ctx, or else by its time limit.
// err is what the render returned, to tell where it was stopped.
func (t *Template) stopError(ctx context.Context, err error) error {
	e := &Error{Binding: t.Binding.ID, Template: t.Binding.SourcePath}
	where := ""
	if err != nil {
		if m := execRE.FindStringSubmatch(err.Error()); m != nil {
			where = " at line " + m[1]
		}
	}
	if ctx.Err() != nil {
		e.Err = context.Cause(ctx)
		e.Msg = fmt.Sprintf("rendering was stopped%s: %v", where, e.Err)
		return e
	}
	e.Err = ErrTimeout
	e.Msg = fmt.Sprintf("rendering did not finish within %s (render_timeout); stopped%s: "+
		"does a loop or a {{template}} recursion never end? If the template is only slow, raise \"render_timeout\" in the binding",
		t.timeout(), where)
	return e
}

// checkText refuses output that is not UTF-8 text or holds NUL bytes.
func checkText(b []byte) error {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return fmt.Errorf("contains a NUL byte at offset %d", i)
	}
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return fmt.Errorf("is not valid UTF-8 at offset %d", i)
			}
			i += n
		}
	}
	return nil
}

// binaryKey returns the key whose binary value appears in the output, or
// "" when none does (the template made the bytes, say with base64Decode).
func binaryKey(kvs []snapshot.KV, out []byte) string {
	for _, kv := range kvs {
		if (strings.IndexByte(kv.Value, 0) >= 0 || !utf8.ValidString(kv.Value)) && bytes.Contains(out, []byte(kv.Value)) {
			return kv.Key
		}
	}
	return ""
}

var errTooLarge = errors.New("output too large")

// limitedBuffer is the output of a render: at most limit bytes, and no
// more writes once the render is stopped.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	run   *run
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if err := l.run.check(); err != nil {
		return 0, err
	}
	if l.Len()+len(p) > l.limit {
		return 0, errTooLarge
	}
	return l.Buffer.Write(p)
}

var (
	parseRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? ?(.*)$`)
	execRE  = regexp.MustCompile(`^template: [^:]*:(\d+):\d+: executing "[^"]*" at <(.*?)>: (.*)$`)
)

func parseError(b *bindings.Binding, err error) error {
	e := &Error{Binding: b.ID, Template: b.SourcePath, Msg: err.Error()}
	if m := parseRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "syntax error: " + m[2]
	}
	if strings.Contains(e.Msg, "unexpected") || strings.Contains(e.Msg, "unclosed") {
		e.Msg += fmt.Sprintf(" (delimiters are %q and %q)", b.LeftDelim, b.RightDelim)
	}
	return e
}

// hidden replaces what an error of a sensitive binding would say about
// its values.
const hidden = "(details hidden: the binding is sensitive)"

var callRE = regexp.MustCompile(`^error calling ([^:]+): `)

// execError describes a failed render: its line, the action (template
// source) and what went wrong. For a sensitive binding, only what cannot
// hold a value is kept: the location, a missing key's message (it names
// keys), a refused size and a missing map entry (its name is template
// source); any other text is replaced with hidden, and the underlying
// error, whose text may quote a value, is dropped. A missing key is named
// only when the template source spells it out: a key the template built
// (`getv (getv "/app/user")`, `getv (printf "/users/%s" ...)`) may be made
// of a value.
func execError(b *bindings.Binding, src string, err error) error {
	e := &Error{Binding: b.ID, Template: b.SourcePath, Msg: err.Error(), Err: err}
	var ke *KeyError
	var le *limitError
	isKey, isLimit := errors.As(err, &ke), errors.As(err, &le)
	if isKey {
		e.Key = ke.Key
	}
	m := execRE.FindStringSubmatch(err.Error())
	if m != nil {
		e.Line, _ = strconv.Atoi(m[1])
	}
	if b.Sensitive && isKey && !strings.Contains(src, strconv.Quote(ke.Key)) && !strings.Contains(src, "`"+ke.Key+"`") {
		e.Key, e.Err = "", nil
		what := "does not exist"
		if ke.Undeclared {
			what = "is not read by this binding"
		}
		e.Msg = fmt.Sprintf("a key the template built %s; its name is not shown %s", what, hidden)
		if m != nil {
			fn := ""
			if c := callRE.FindStringSubmatch(m[3]); c != nil {
				fn = c[1] + ": "
			}
			e.Msg = fmt.Sprintf("at <%s>: %s%s", m[2], fn, e.Msg)
		}
		return e
	}
	if b.Sensitive && !isKey && !isLimit {
		e.Err = nil
		switch {
		case m == nil:
			e.Msg = hidden
		case strings.HasPrefix(m[3], "map has no entry for key "):
			e.Msg = fmt.Sprintf("at <%s>: %s", m[2], m[3])
		case callRE.MatchString(m[3]):
			e.Msg = fmt.Sprintf("at <%s>: %s: %s", m[2], callRE.FindStringSubmatch(m[3])[1], hidden)
		default:
			e.Msg = fmt.Sprintf("at <%s>: %s", m[2], hidden)
		}
		return e
	}
	switch {
	case m != nil && isLimit:
		e.Msg = fmt.Sprintf("at <%s>: %s", m[2], le.msg)
	case m != nil:
		e.Msg = fmt.Sprintf("at <%s>: %s", m[2], strings.TrimPrefix(m[3], "error calling "))
	case isLimit:
		e.Msg = le.msg
	default:
		if m := parseRE.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
	}
	return e
}

package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/snapshot"
)

// MaxOutput is the largest target a template may render.
const MaxOutput = 32 << 20

// Template is a binding's checked template. It keeps the source, not the
// parsed tree: each render parses it again with functions bound to that
// render's keys. That costs less than cloning a parsed template per render
// and keeps an idle daemon with thousands of bindings small.
type Template struct {
	Binding *bindings.Binding
	src     string
}

// Error is a template that cannot be parsed or rendered.
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
	src, err := os.ReadFile(b.SourcePath)
	if err != nil {
		return nil, &Error{Binding: b.ID, Template: b.SourcePath, Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}
	}
	return CompileText(b, string(src))
}

// CompileText checks that src parses as the template of b.
func CompileText(b *bindings.Binding, src string) (*Template, error) {
	if _, err := parse(b, src, funcStubs); err != nil {
		return nil, parseError(b, err)
	}
	return &Template{Binding: b, src: src}, nil
}

func parse(b *bindings.Binding, src string, fm template.FuncMap) (*template.Template, error) {
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
	return in, nil
}

// Execute renders the template with the input.
func (t *Template) Execute(in *Input) ([]byte, error) {
	b := t.Binding
	tmpl, err := parse(b, t.src, funcs(&in.store))
	if err != nil {
		return nil, parseError(b, err)
	}
	var out limitedBuffer
	out.limit = MaxOutput
	if err := tmpl.Execute(&out, in.Values); err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &Error{Binding: b.ID, Template: b.SourcePath, Msg: fmt.Sprintf("rendered output is larger than %d MiB", MaxOutput>>20)}
		}
		return nil, execError(b, err)
	}
	if err := checkText(out.Bytes()); err != nil {
		e := &Error{Binding: b.ID, Template: b.SourcePath,
			Msg: "rendered output " + err.Error() + "; config files must be text (use base64Encode to embed binary values)"}
		if k := binaryKey(in.store.kvs, out.Bytes()); k != "" {
			e.Key = k
			e.Msg = fmt.Sprintf("key %s holds binary data: %s", k, e.Msg)
		}
		return nil, e
	}
	return out.Bytes(), nil
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

type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
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

func execError(b *bindings.Binding, err error) error {
	e := &Error{Binding: b.ID, Template: b.SourcePath, Msg: err.Error(), Err: err}
	var ke *KeyError
	if errors.As(err, &ke) {
		e.Key = ke.Key
	}
	if m := execRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg := m[3]
		msg = strings.TrimPrefix(msg, "error calling ")
		e.Msg = fmt.Sprintf("at <%s>: %s", m[2], msg)
	} else if m := parseRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

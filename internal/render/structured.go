package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// The structured-data functions: fromYAML, toYAML, toTOML, fromJSON,
// indent and nindent.
//
// Their output is a function of the value alone: mapping keys in byte
// order (struct fields too), two-space indentation, no final newline (as
// toJSON). A whole JSON number (a float64 that is an integer up to 2^53)
// is written as an integer, so that `{"port": 80}` gives `port: 80` and
// `port = 80`, not 80.0 or 8e+01.

// maxNesting bounds how deep the values the structured-data functions read
// and write may nest. Config data nests a few levels; a thousand keeps
// the encoders' recursion, and TOML's repeated table headers, small.
const maxNesting = 1000

// yamlNodeSize is about what the YAML library keeps for one value while it
// parses or encodes: a yaml.Node and its place in its parent's list.
const yamlNodeSize = 176

// Decoding.

// fromJSON is json under the name that pairs it with toJSON.
func (r *run) fromJSON(s string) (map[string]any, error) {
	return r.decodeObject("fromJSON", s)
}

// fromYAML decodes one YAML document: a mapping becomes a map with string
// keys (a key is its text as written; a !!binary key its bytes), a
// sequence a list, and a scalar
// what YAML 1.2's core schema makes of it: null, a bool, an int (a float
// when it does not fit 64 bits), a float or a string. Timestamps stay the
// strings they are written as. Aliases and merge keys (<<) are expanded,
// and every expanded value counts against the limits.
func (r *run) fromYAML(s string) (any, error) {
	bound := yamlNodes(s)
	if err := r.produceList("fromYAML", bound, anySize); err != nil {
		return nil, err
	}
	if err := r.spend("fromYAML", int64(len(s))+bound*yamlNodeSize); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(strings.NewReader(s))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, nil // no document: null
	case err != nil:
		return nil, fmt.Errorf("fromYAML: value is not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("fromYAML: value holds more than one YAML document")
	}
	d := yamlDecoder{run: r, active: map[*yaml.Node]bool{}}
	v, err := d.value(&doc, 0)
	if err != nil {
		return nil, err
	}
	if d.count > bound {
		// Aliases made more values than the text holds.
		if err := r.spend("fromYAML", (d.count-bound)*anySize); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// yamlDecoder turns a parsed YAML document into template values, counting
// each value it makes, aliases expanded.
type yamlDecoder struct {
	run   *run
	count int64
	// active holds the anchored nodes being expanded, to refuse an alias
	// inside the node it names.
	active map[*yaml.Node]bool
}

func (d *yamlDecoder) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("fromYAML: line %d: nested deeper than %d levels", n.Line, maxNesting)
	}
	d.count++
	if d.count > maxElems {
		return nil, &limitError{msg: fmt.Sprintf("a call to fromYAML would return more than %d entries (are aliases expanding without end?)", maxElems)}
	}
	if d.count%1024 == 0 {
		if err := d.run.check(); err != nil {
			return nil, err
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return d.value(n.Content[0], depth)
	case yaml.AliasNode:
		if d.active[n.Alias] {
			return nil, fmt.Errorf("fromYAML: line %d: alias *%s is inside the node it names", n.Line, n.Value)
		}
		return d.value(n.Alias, depth)
	case yaml.SequenceNode:
		if n.Anchor != "" {
			d.active[n] = true
			defer delete(d.active, n)
		}
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := d.value(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		if n.Anchor != "" {
			d.active[n] = true
			defer delete(d.active, n)
		}
		return d.mapping(n, depth)
	case yaml.ScalarNode:
		return d.scalar(n)
	}
	return nil, fmt.Errorf("fromYAML: line %d: unknown kind of YAML node", n.Line)
}

func (d *yamlDecoder) mapping(n *yaml.Node, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		key := k
		if key.Kind == yaml.AliasNode {
			key = key.Alias
		}
		if key.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("fromYAML: line %d: a mapping key is a list or a mapping; keys must be scalars", k.Line)
		}
		name := key.Value
		if key.ShortTag() == "!!binary" {
			if err := key.Decode(&name); err != nil {
				return nil, fmt.Errorf("fromYAML: line %d: %s", k.Line, strings.TrimPrefix(err.Error(), "yaml: "))
			}
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("fromYAML: line %d: key %q appears twice in a mapping", k.Line, name)
		}
		val, err := d.value(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[name] = val
	}
	// Merged mappings add the keys the mapping does not have; of several,
	// the first one listed wins.
	for _, m := range merges {
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, src := range srcs {
			v, err := d.value(src, depth+1)
			if err != nil {
				return nil, err
			}
			mv, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("fromYAML: line %d: << merges a value that is not a mapping", src.Line)
			}
			for k, v := range mv {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}

func (d *yamlDecoder) scalar(n *yaml.Node) (any, error) {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return nil, nil
	case "!!str", "!!timestamp":
		return n.Value, nil
	case "!!bool", "!!int", "!!float", "!!binary":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("fromYAML: line %d: %s", n.Line, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		switch x := v.(type) {
		case int64:
			return int(x), nil // int is 64 bits where reconfig runs
		case uint64:
			return float64(x), nil
		}
		return v, nil
	default:
		// An application's own tag (!foo): its text.
		return n.Value, nil
	}
}

// yamlNodes bounds the number of nodes of the YAML text s, and of values
// fromYAML makes of it without aliases: the document and its root, and
// then each node follows an indicator that the count charges for it. A
// key and its value follow a ":" or "?" (or a "," or "{" in a flow
// mapping, for a key without a value); a block mapping starts with its
// first key; an item follows a "-", "[" or ",".
func yamlNodes(s string) int64 {
	n := int64(2)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':', '?', '{':
			n += 3
		case '-', ',', '[':
			n += 2
		}
	}
	return n
}

// Encoding.

// plainValue turns a template value into the plain values toYAML and
// toTOML encode: map[string]any, []any, string, int64, float64, bool and
// nil. count is the number of values, limited like a list.
type plainValue struct {
	run   *run
	fn    string
	count int64
}

func (p *plainValue) convert(x reflect.Value, depth int) (any, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("%s: the value nests deeper than %d levels", p.fn, maxNesting)
	}
	p.count++
	if p.count > maxElems {
		return nil, &limitError{msg: fmt.Sprintf("a call to %s would encode more than %d values", p.fn, maxElems)}
	}
	if p.count%1024 == 0 {
		if err := p.run.check(); err != nil {
			return nil, err
		}
	}
	if !x.IsValid() {
		return nil, nil
	}
	switch x.Kind() {
	case reflect.Interface, reflect.Pointer:
		if x.IsNil() {
			return nil, nil
		}
		p.count--
		return p.convert(x.Elem(), depth)
	case reflect.Bool:
		return x.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return x.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := x.Uint(); u <= math.MaxInt64 {
			return int64(u), nil
		}
		return float64(x.Uint()), nil
	case reflect.Float32, reflect.Float64:
		f := x.Float()
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return int64(f), nil
		}
		return f, nil
	case reflect.String:
		return x.String(), nil
	case reflect.Slice, reflect.Array:
		if x.Kind() == reflect.Slice && x.IsNil() {
			return []any{}, nil
		}
		out := make([]any, x.Len())
		for i := range out {
			v, err := p.convert(x.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case reflect.Map:
		out := make(map[string]any, x.Len())
		for it := x.MapRange(); it.Next(); {
			var k string
			switch kk := it.Key(); kk.Kind() {
			case reflect.String:
				k = kk.String()
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				k = strconv.FormatInt(kk.Int(), 10)
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				k = strconv.FormatUint(kk.Uint(), 10)
			default:
				return nil, fmt.Errorf("%s: map keys must be strings, not %s", p.fn, kk.Type())
			}
			v, err := p.convert(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case reflect.Struct:
		t := x.Type()
		out := make(map[string]any, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				v, err := p.convert(x.Field(i), depth+1)
				if err != nil {
					return nil, err
				}
				out[f.Name] = v
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: cannot encode a value of type %s", p.fn, x.Type())
}

// plain converts v for fn and accounts for the copy.
func (r *run) plain(fn string, v any) (any, int64, error) {
	if err := r.check(); err != nil {
		return nil, 0, err
	}
	p := plainValue{run: r, fn: fn}
	out, err := p.convert(reflect.ValueOf(v), 0)
	if err != nil {
		return nil, 0, err
	}
	return out, p.count, r.spend(fn, p.count*anySize)
}

// toYAML encodes v as a YAML document: block style, two-space indentation,
// keys in byte order, sequences indented under their key. Strings that a
// YAML 1.1 or 1.2 reader would take for another type ("80", "true", "yes",
// "on", "null", "1:20", "") are double-quoted; multi-line strings are
// literal blocks (|); strings that are not UTF-8 are !!binary (base64).
func (r *run) toYAML(v any) (string, error) {
	pv, count, err := r.plain("toYAML", v)
	if err != nil {
		return "", err
	}
	if err := r.produce("toYAML", yamlSize(pv, 0, min(MaxOutput, r.left)+1)); err != nil {
		return "", err
	}
	if err := r.spend("toYAML", 2*count*yamlNodeSize); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	root := yamlNode(pv)
	quoteLastBlock(root)
	if err := enc.Encode(root); err != nil {
		return "", fmt.Errorf("toYAML: %v", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("toYAML: %v", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// yamlNode is the YAML node of a plain value.
func yamlNode(v any) *yaml.Node {
	scalar := func(tag, value string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	}
	switch x := v.(type) {
	case nil:
		return scalar("!!null", "null")
	case bool:
		return scalar("!!bool", strconv.FormatBool(x))
	case int64:
		return scalar("!!int", strconv.FormatInt(x, 10))
	case float64:
		return scalar("!!float", yamlFloat(x))
	case string:
		return yamlString(x)
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: make([]*yaml.Node, len(x))}
		for i, e := range x {
			n.Content[i] = yamlNode(e)
		}
		return n
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: make([]*yaml.Node, 0, 2*len(x))}
		for _, k := range sortedKeys(x) {
			n.Content = append(n.Content, yamlString(k), yamlNode(x[k]))
		}
		return n
	}
	panic(fmt.Sprintf("yamlNode: %T is not a plain value", v))
}

// quoteLastBlock double-quotes the last scalar of the document when it is
// a string that ends with a line break. As a literal block, that break
// would be the document's final newline, which toYAML leaves out.
func quoteLastBlock(n *yaml.Node) {
	for (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && len(n.Content) > 0 {
		n = n.Content[len(n.Content)-1]
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return
	}
	for _, end := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		if strings.HasSuffix(n.Value, end) {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
}

// yamlString is the node of a string. The encoder quotes a string that
// YAML 1.2 would read as another type; yamlString also quotes those that
// YAML 1.1 readers (PyYAML, Psych, yaml.v2) take for bools or sexagesimal
// numbers. A string that is not UTF-8 gets no tag, so that the encoder
// writes it as !!binary.
func yamlString(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	switch {
	case !utf8.ValidString(s):
		n.Tag = ""
	case yaml11Bool[s] || sexagesimal.MatchString(s):
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// yaml11Bool lists YAML 1.1's booleans that YAML 1.2 reads as strings.
var yaml11Bool = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

// sexagesimal matches YAML 1.1's base 60 numbers, like 1:20 or 190:20:30.15
// (a time of day like 12:30 is one), and not an address like 0.0.0.0:8443.
var sexagesimal = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

// yamlFloat formats a float the way encoding/json does, with a decimal
// point in every number so that YAML 1.1 readers see a float too.
func yamlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := jsonFloat(f)
	mant, exp, hasExp := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	if hasExp {
		return mant + "e" + exp
	}
	return mant
}

// jsonFloat is strconv's shortest form of f, as encoding/json writes it:
// plain digits from 1e-6 to 1e21, an exponent (e-07 shortened to e-7)
// outside that.
func jsonFloat(f float64) string {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	s := strconv.FormatFloat(f, format, -1, 64)
	if format == 'e' {
		if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s = s[:n-2] + s[n-1:]
		}
	}
	return s
}

// toTOML encodes v, a map or a struct, as a TOML document: keys in byte
// order, the plain keys of a table before its sub-tables, tables not
// indented, a list of tables as [[name]] blocks. TOML has no null, so a
// nil value leaves its key out; a list with a nil item is an error.
func (r *run) toTOML(v any) (string, error) {
	pv, _, err := r.plain("toTOML", v)
	if err != nil {
		return "", err
	}
	m, ok := pv.(map[string]any)
	if !ok {
		return "", fmt.Errorf("toTOML: want a map, as a TOML document is a table; got %s", plainKind(pv))
	}
	if err := tomlText(m); err != nil {
		return "", err
	}
	if err := r.produce("toTOML", tomlSize(m, 0, min(MaxOutput, r.left)+1)); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(m); err != nil {
		return "", fmt.Errorf("toTOML: %s", strings.TrimPrefix(err.Error(), "toml: "))
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// tomlText refuses strings that are not UTF-8: TOML has no binary type.
func tomlText(v any) error {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return errors.New("toTOML: a value is not UTF-8 text, and TOML has no binary type (use base64Encode)")
		}
	case []any:
		for _, e := range x {
			if err := tomlText(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) {
				return errors.New("toTOML: a key is not UTF-8 text")
			}
			if err := tomlText(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// plainKind names the kind of a plain value for messages.
func plainKind(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case []any:
		return "a list"
	case string:
		return "a string"
	}
	return "a " + reflect.TypeOf(v).String()
}

// sortedKeys returns the keys of m in byte order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Text.

// indent puts n spaces before every line of s, empty lines too, as Helm's
// indent does.
func (r *run) indent(n int, s string) (string, error) {
	return r.indentText("indent", n, s, "")
}

// nindent is indent after a newline, to start a block on its own line.
func (r *run) nindent(n int, s string) (string, error) {
	return r.indentText("nindent", n, s, "\n")
}

func (r *run) indentText(fn string, n int, s, lead string) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("%s: negative width %d", fn, n)
	}
	if n > MaxOutput {
		return "", &limitError{msg: fmt.Sprintf("a call to %s would return more than %d MiB", fn, MaxOutput>>20)}
	}
	lines := int64(strings.Count(s, "\n")) + 1
	if err := r.produce(fn, int64(len(lead))+int64(len(s))+lines*int64(n)); err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", n)
	return lead + pad + strings.ReplaceAll(s, "\n", "\n"+pad), nil
}

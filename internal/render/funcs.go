package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// KVPair is a key and its value, as gets, get and sortKVByLength return them.
type KVPair struct {
	Key   string
	Value string
}

// KeyError is a key function asked for a key it cannot give.
type KeyError struct {
	Key string
	// Undeclared is true when the binding does not read the key at all.
	Undeclared bool
}

func (e *KeyError) Error() string {
	if e.Undeclared {
		return fmt.Sprintf("key %s is not read by this binding; add it to \"key\" or \"altkeys\"", e.Key)
	}
	return fmt.Sprintf("key %s does not exist (give getv a default: getv %q \"fallback\")", e.Key, e.Key)
}

// The hidden functions of the checks that instrument inserts. They are
// not in funcStubs, so a template that names them does not compile.
const (
	stoppedFunc = "_reconfigStopped"
	stopFunc    = "_reconfigStop"
)

// funcStubs lets templates parse before a render is bound.
var funcStubs = func() template.FuncMap {
	fm := funcs(newRun(&store{}))
	delete(fm, stoppedFunc)
	delete(fm, stopFunc)
	return fm
}()

// builtinOverrides are text/template builtins that funcs replaces with
// versions bounded in size; a FuncMap entry wins over a builtin.
var builtinOverrides = map[string]bool{
	"print": true, "printf": true, "println": true, "html": true, "js": true, "urlquery": true,
}

// funcs is the function set of templates, bound to one render. Every
// function returns errStopped once the render is stopped, and every
// function that builds a string or a list accounts for it first (see
// run.produce), so that no call returns more than MaxOutput bytes or
// maxElems entries, and a render's calls no more than its budget.
func funcs(r *run) template.FuncMap {
	return template.FuncMap{
		stoppedFunc:      r.stoppedCheck,
		stopFunc:         r.stopCheck,
		"getv":           r.getv,
		"getvs":          r.getvs,
		"gets":           r.gets,
		"get":            r.get,
		"ls":             r.ls,
		"lsdir":          r.lsdir,
		"exists":         r.exists,
		"base":           r.base,
		"dir":            r.dir,
		"split":          r.split,
		"join":           r.join,
		"json":           r.unmarshalObject,
		"fromJSON":       r.fromJSON,
		"fromYAML":       r.fromYAML,
		"toYAML":         r.toYAML,
		"toTOML":         r.toTOML,
		"indent":         r.indent,
		"nindent":        r.nindent,
		"jsonArray":      r.unmarshalArray,
		"map":            r.makeMap,
		"contains":       r.contains,
		"replace":        r.replace,
		"trimSuffix":     r.trimSuffix,
		"trimPrefix":     r.trimPrefix,
		"toUpper":        r.toUpper,
		"toLower":        r.toLower,
		"atoi":           r.atoi,
		"seq":            r.seq,
		"add":            r.add,
		"sub":            r.sub,
		"mul":            r.mul,
		"div":            r.div,
		"mod":            r.mod,
		"base64Encode":   r.base64Encode,
		"base64Decode":   r.base64Decode,
		"parseBool":      r.parseBool,
		"reverse":        r.reverse,
		"sortByLength":   r.sortByLength,
		"sortKVByLength": r.sortKVByLength,
		"getenv":         r.getenv,
		"keys":           r.keys,
		"toJSON":         r.toJSON,
		"toPrettyJSON":   r.toPrettyJSON,
		"print":          r.print,
		"printf":         r.printf,
		"println":        r.println,
		"html":           r.html,
		"js":             r.js,
		"urlquery":       r.urlquery,
	}
}

// Sizes that lists of each kind of entry are accounted with.
const (
	headerSize = 16 // a string
	kvSize     = 32 // a KVPair
	anySize    = 48 // a decoded JSON value or map entry
)

// Key functions.

func (r *run) getv(key string, def ...string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	return r.store.getv(key, def...)
}

func (r *run) get(key string) (KVPair, error) {
	if err := r.check(); err != nil {
		return KVPair{}, err
	}
	return r.store.get(key)
}

func (r *run) exists(key string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	return r.store.exists(key), nil
}

func (r *run) gets(pattern string) ([]KVPair, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	kvs, err := r.store.gets(pattern)
	if err != nil {
		return nil, err
	}
	return kvs, r.spend("gets", kvSize*int64(len(kvs)))
}

func (r *run) getvs(pattern string) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	vs, err := r.store.getvs(pattern)
	if err != nil {
		return nil, err
	}
	return vs, r.spend("getvs", (kvSize+headerSize)*int64(len(vs)))
}

func (r *run) ls(dir string) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	names := r.store.ls(dir)
	return names, r.spend("ls", headerSize*int64(len(names)))
}

func (r *run) lsdir(dir string) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	names := r.store.lsdir(dir)
	return names, r.spend("lsdir", headerSize*int64(len(names)))
}

// Strings and paths.

func (r *run) base(p string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	return path.Base(p), nil
}

func (r *run) dir(p string) (string, error) {
	if err := r.produce("dir", int64(len(p))); err != nil {
		return "", err
	}
	return path.Dir(p), nil
}

func (r *run) split(s, sep string) ([]string, error) {
	n := int64(utf8.RuneCountInString(s)) // strings.Split(s, "")
	if sep != "" {
		n = int64(strings.Count(s, sep)) + 1
	}
	if err := r.produceList("split", n, headerSize); err != nil {
		return nil, err
	}
	return strings.Split(s, sep), nil
}

func (r *run) join(elems []string, sep string) (string, error) {
	n := int64(len(sep)) * int64(max(len(elems)-1, 0))
	for _, e := range elems {
		n += int64(len(e))
	}
	if err := r.produce("join", n); err != nil {
		return "", err
	}
	return strings.Join(elems, sep), nil
}

func (r *run) contains(s, substr string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	return strings.Contains(s, substr), nil
}

func (r *run) replace(s, old, new string, n int) (string, error) {
	// How many replacements strings.Replace makes, and so its length.
	m := int64(utf8.RuneCountInString(s)) + 1
	if old != "" {
		m = int64(strings.Count(s, old))
	}
	if n >= 0 {
		m = min(m, int64(n))
	}
	if err := r.produce("replace", int64(len(s))+m*(int64(len(new))-int64(len(old)))); err != nil {
		return "", err
	}
	return strings.Replace(s, old, new, n), nil
}

func (r *run) trimSuffix(s, suffix string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	return strings.TrimSuffix(s, suffix), nil
}

func (r *run) trimPrefix(s, prefix string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	return strings.TrimPrefix(s, prefix), nil
}

func (r *run) toUpper(s string) (string, error) {
	if err := r.produce("toUpper", caseLen(s, unicode.ToUpper)); err != nil {
		return "", err
	}
	return strings.ToUpper(s), nil
}

func (r *run) toLower(s string) (string, error) {
	if err := r.produce("toLower", caseLen(s, unicode.ToLower)); err != nil {
		return "", err
	}
	return strings.ToLower(s), nil
}

func (r *run) base64Encode(s string) (string, error) {
	if err := r.produce("base64Encode", int64(base64.StdEncoding.EncodedLen(len(s)))); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func (r *run) base64Decode(s string) (string, error) {
	if err := r.produce("base64Decode", int64(base64.StdEncoding.DecodedLen(len(s)))); err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("base64Decode: %v", err)
	}
	return string(b), nil
}

// fmt builtins, bounded.

func (r *run) printf(format string, args ...any) (string, error) {
	if err := r.produce("printf", printfSize(format, args, min(MaxOutput, r.left)+1)); err != nil {
		return "", err
	}
	return fmt.Sprintf(format, args...), nil
}

func (r *run) print(args ...any) (string, error) {
	if err := r.produce("print", printSize(args, min(MaxOutput, r.left)+1)); err != nil {
		return "", err
	}
	return fmt.Sprint(args...), nil
}

func (r *run) println(args ...any) (string, error) {
	if err := r.produce("println", printSize(args, min(MaxOutput, r.left)+1)); err != nil {
		return "", err
	}
	return fmt.Sprintln(args...), nil
}

// escaper bounds an escaping builtin: exact for one string, else factor
// times what fmt.Sprint would print (text/template escapes that).
func (r *run) escaper(fn string, exact func(string) int64, factor int64, args []any) error {
	if len(args) == 1 {
		if s, ok := args[0].(string); ok {
			return r.produce(fn, exact(s))
		}
	}
	return r.produce(fn, factor*printSize(args, min(MaxOutput, r.left)/factor+1))
}

func (r *run) html(args ...any) (string, error) {
	if err := r.escaper("html", htmlLen, 5, args); err != nil {
		return "", err
	}
	return template.HTMLEscaper(args...), nil
}

func (r *run) js(args ...any) (string, error) {
	if err := r.escaper("js", jsLen, 6, args); err != nil {
		return "", err
	}
	return template.JSEscaper(args...), nil
}

func (r *run) urlquery(args ...any) (string, error) {
	if err := r.escaper("urlquery", urlLen, 3, args); err != nil {
		return "", err
	}
	return template.URLQueryEscaper(args...), nil
}

// Decoding.

func (r *run) unmarshalObject(s string) (map[string]any, error) {
	return r.decodeObject("json", s)
}

func (r *run) decodeObject(fn, s string) (map[string]any, error) {
	if err := r.produceList(fn, jsonValues(s), anySize); err != nil {
		return nil, err
	}
	if err := r.spend(fn, int64(len(s))); err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("%s: value is not a JSON object: %v", fn, err)
	}
	return m, nil
}

func (r *run) unmarshalArray(s string) ([]any, error) {
	if err := r.produceList("jsonArray", jsonValues(s), anySize); err != nil {
		return nil, err
	}
	if err := r.spend("jsonArray", int64(len(s))); err != nil {
		return nil, err
	}
	var a []any
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("jsonArray: value is not a JSON array: %v", err)
	}
	return a, nil
}

func (r *run) atoi(s string) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

func (r *run) parseBool(s string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	return strconv.ParseBool(s)
}

// Lists and maps.

func (r *run) makeMap(values ...any) (map[string]any, error) {
	if err := r.produceList("map", int64(len(values)/2), anySize); err != nil {
		return nil, err
	}
	if len(values)%2 != 0 {
		return nil, errors.New("map: want pairs of name and value")
	}
	m := make(map[string]any, len(values)/2)
	for i := 0; i < len(values); i += 2 {
		k, ok := values[i].(string)
		if !ok {
			return nil, fmt.Errorf("map: name %v is not a string", values[i])
		}
		m[k] = values[i+1]
	}
	return m, nil
}

// maxSeq bounds seq so a typo cannot exhaust memory.
const maxSeq = maxElems

func (r *run) seq(first, last int) ([]int, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if last < first {
		return []int{}, nil
	}
	// n < 0: last-first overflowed, so the range is huge too.
	n := last - first
	if n < 0 || n >= maxSeq {
		return nil, fmt.Errorf("seq: %d..%d has more than %d numbers", first, last, maxSeq)
	}
	if err := r.produceList("seq", int64(n)+1, 8); err != nil {
		return nil, err
	}
	// Count rather than compare with last, which may be the largest int.
	out := make([]int, 0, n+1)
	for i := 0; i <= n; i++ {
		out = append(out, first+i)
	}
	return out, nil
}

func (r *run) reverse(v any) (any, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("reverse: want a list, got %T", v)
	}
	n := rv.Len()
	if err := r.produceList("reverse", int64(n), int64(rv.Type().Elem().Size())); err != nil {
		return nil, err
	}
	out := reflect.MakeSlice(rv.Type(), n, n)
	for i := 0; i < n; i++ {
		out.Index(i).Set(rv.Index(n - 1 - i))
	}
	return out.Interface(), nil
}

func (r *run) sortByLength(in []string) ([]string, error) {
	if err := r.produceList("sortByLength", int64(len(in)), headerSize); err != nil {
		return nil, err
	}
	out := append([]string(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) < len(out[j]) })
	return out, nil
}

func (r *run) sortKVByLength(in []KVPair) ([]KVPair, error) {
	if err := r.produceList("sortKVByLength", int64(len(in)), kvSize); err != nil {
		return nil, err
	}
	out := append([]KVPair(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Key) < len(out[j].Key) })
	return out, nil
}

// keys returns the keys of any map with string keys, sorted.
func (r *run) keys(m any) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(m)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("keys: want a map with string keys, got %T", m)
	}
	if err := r.produceList("keys", int64(rv.Len()), headerSize); err != nil {
		return nil, err
	}
	out := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out, nil
}

// Numbers.

func (r *run) add(a, b int) (int, error) { return a + b, r.check() }
func (r *run) sub(a, b int) (int, error) { return a - b, r.check() }
func (r *run) mul(a, b int) (int, error) { return a * b, r.check() }

func (r *run) div(a, b int) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	if b == 0 {
		return 0, errors.New("div: division by zero")
	}
	return a / b, nil
}

func (r *run) mod(a, b int) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	if b == 0 {
		return 0, errors.New("mod: division by zero")
	}
	return a % b, nil
}

// Environment.

// settingsPrefix starts the names of reconfig's own environment
// variables: its settings, some of them secrets (RECONFIG_PASSWORD,
// RECONFIG_KEY_PASSPHRASE, RECONFIG_USER with a password).
const settingsPrefix = "RECONFIG_"

func (r *run) getenv(key string, def ...string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	if len(key) >= len(settingsPrefix) && strings.EqualFold(key[:len(settingsPrefix)], settingsPrefix) {
		return "", fmt.Errorf("%s: variables named %s* are reconfig's own settings, some of them secrets, and are not visible to templates", key, settingsPrefix)
	}
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	if len(def) > 0 {
		return def[0], nil
	}
	return "", nil
}

// JSON.

func (r *run) toJSON(v any) (string, error) {
	return r.marshal("toJSON", v, 0)
}

func (r *run) toPrettyJSON(v any) (string, error) {
	return r.marshal("toPrettyJSON", v, 2)
}

func (r *run) marshal(fn string, v any, indent int64) (string, error) {
	n := jsonSize(reflect.ValueOf(v), indent, 0, min(MaxOutput, r.left)+1)
	if err := r.produce(fn, n); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", strings.Repeat(" ", int(indent)))
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("toJSON: %v", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// mergeSorted merges sorted key/value lists into one sorted list without
// duplicate keys.
func mergeSorted(lists [][]snapshot.KV) []snapshot.KV {
	if len(lists) == 1 {
		return lists[0]
	}
	var out []snapshot.KV
	for _, l := range lists {
		out = append(out, l...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	w := 0
	for i, kv := range out {
		if i > 0 && kv.Key == out[w-1].Key {
			continue
		}
		out[w] = kv
		w++
	}
	return out[:w]
}

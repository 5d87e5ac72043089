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

	"github.com/reconfig/reconfig/snapshot"
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

// funcStubs lets templates parse before a store is bound.
var funcStubs = funcs(&store{})

// funcs is the function set of templates, bound to one binding's keys.
func funcs(s *store) template.FuncMap {
	return template.FuncMap{
		"getv":           s.getv,
		"getvs":          s.getvs,
		"gets":           s.gets,
		"get":            s.get,
		"ls":             s.ls,
		"lsdir":          s.lsdir,
		"exists":         s.exists,
		"base":           path.Base,
		"dir":            path.Dir,
		"split":          strings.Split,
		"join":           strings.Join,
		"json":           unmarshalObject,
		"jsonArray":      unmarshalArray,
		"map":            makeMap,
		"contains":       strings.Contains,
		"replace":        strings.Replace,
		"trimSuffix":     strings.TrimSuffix,
		"trimPrefix":     strings.TrimPrefix,
		"toUpper":        strings.ToUpper,
		"toLower":        strings.ToLower,
		"atoi":           strconv.Atoi,
		"seq":            seq,
		"add":            func(a, b int) int { return a + b },
		"sub":            func(a, b int) int { return a - b },
		"mul":            func(a, b int) int { return a * b },
		"div":            div,
		"mod":            mod,
		"base64Encode":   func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64Decode":   base64Decode,
		"parseBool":      strconv.ParseBool,
		"reverse":        reverse,
		"sortByLength":   sortByLength,
		"sortKVByLength": sortKVByLength,
		"getenv":         getenv,
		"keys":           keys,
		"toJSON":         toJSON,
		"toPrettyJSON":   toPrettyJSON,
	}
}

// FuncNames lists the template functions, sorted.
func FuncNames() []string {
	var names []string
	for n := range funcStubs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func unmarshalObject(s string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("json: value is not a JSON object: %v", err)
	}
	return m, nil
}

func unmarshalArray(s string) ([]any, error) {
	var a []any
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("jsonArray: value is not a JSON array: %v", err)
	}
	return a, nil
}

func makeMap(values ...any) (map[string]any, error) {
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
const maxSeq = 1 << 20

func seq(first, last int) ([]int, error) {
	if last < first {
		return []int{}, nil
	}
	// n < 0: last-first overflowed, so the range is huge too.
	n := last - first
	if n < 0 || n >= maxSeq {
		return nil, fmt.Errorf("seq: %d..%d has more than %d numbers", first, last, maxSeq)
	}
	// Count rather than compare with last, which may be the largest int.
	out := make([]int, 0, n+1)
	for i := 0; i <= n; i++ {
		out = append(out, first+i)
	}
	return out, nil
}

func div(a, b int) (int, error) {
	if b == 0 {
		return 0, errors.New("div: division by zero")
	}
	return a / b, nil
}

func mod(a, b int) (int, error) {
	if b == 0 {
		return 0, errors.New("mod: division by zero")
	}
	return a % b, nil
}

func base64Decode(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("base64Decode: %v", err)
	}
	return string(b), nil
}

func reverse(v any) (any, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("reverse: want a list, got %T", v)
	}
	n := rv.Len()
	out := reflect.MakeSlice(rv.Type(), n, n)
	for i := 0; i < n; i++ {
		out.Index(i).Set(rv.Index(n - 1 - i))
	}
	return out.Interface(), nil
}

func sortByLength(in []string) []string {
	out := append([]string(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) < len(out[j]) })
	return out
}

func sortKVByLength(in []KVPair) []KVPair {
	out := append([]KVPair(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Key) < len(out[j].Key) })
	return out
}

func getenv(key string, def ...string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	if len(def) > 0 {
		return def[0]
	}
	return ""
}

// keys returns the keys of any map with string keys, sorted.
func keys(m any) ([]string, error) {
	rv := reflect.ValueOf(m)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("keys: want a map with string keys, got %T", m)
	}
	out := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out, nil
}

func toJSON(v any) (string, error) {
	return marshal(v, "")
}

func toPrettyJSON(v any) (string, error) {
	return marshal(v, "  ")
}

func marshal(v any, indent string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
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

package render

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// yamlParts make YAML-ish text with every indicator that starts a node.
var yamlParts = []string{"a", "1", " ", "  ", "\n", ":", ": ", "-", "- ", "[", "]", "{", "}", ",", "?", "? ", "&x ", "*x", "'", "\"",
	"#", "|", ">", "!!str ", "<<", "~", "---", "...", "\t", "é"}

func randomYAML(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(30) {
		b.WriteString(yamlParts[r.IntN(len(yamlParts))])
	}
	return b.String()
}

// countNodes counts the nodes of a parsed document, aliases not expanded.
func countNodes(n *yaml.Node) int64 {
	c := int64(1)
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// checkYAMLNodes fails when yamlNodes(s) is less than the nodes that the
// parser makes of s.
func checkYAMLNodes(t *testing.T, s string) {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(s))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return
	}
	if n := countNodes(&doc); n > yamlNodes(s) {
		t.Fatalf("yamlNodes(%q) = %d < %d nodes", s, yamlNodes(s), n)
	}
}

// checkEncoders encodes v with toYAML and toTOML: each output is within
// its size bound, toYAML's reads back as the same value, and toTOML's
// parses as TOML.
func checkEncoders(t *testing.T, v any) {
	t.Helper()
	const noLimit = math.MaxInt64 / 2
	r := newRun(&store{})
	pv, _, err := r.plain("test", v)
	if err != nil {
		return
	}
	out, err := r.toYAML(v)
	if err != nil {
		t.Fatalf("toYAML(%#v): %v", v, err)
	}
	if n := yamlSize(pv, 0, noLimit); n < int64(len(out)) {
		t.Fatalf("yamlSize(%#v) = %d < %d: %q", pv, n, len(out), out)
	}
	back, err := r.fromYAML(out)
	if err != nil {
		t.Fatalf("fromYAML of toYAML(%#v) = %q: %v", v, out, err)
	}
	pback, _, err := r.plain("test", back)
	if err != nil {
		t.Fatal(err)
	}
	if !plainEqual(pv, pback) {
		t.Fatalf("toYAML(%#v) = %q reads back as %#v", pv, out, pback)
	}
	if _, ok := pv.(map[string]any); !ok {
		return
	}
	out, err = r.toTOML(v)
	if err != nil {
		return // a nil in a list, or text that is not UTF-8
	}
	if n := tomlSize(pv, 0, noLimit); n < int64(len(out)) {
		t.Fatalf("tomlSize(%#v) = %d < %d: %q", pv, n, len(out), out)
	}
	var m map[string]any
	if _, err := toml.Decode(out, &m); err != nil {
		t.Fatalf("toTOML(%#v) = %q does not parse: %v", pv, out, err)
	}
}

// plainEqual compares plain values, NaN equal to NaN.
func plainEqual(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && (fa == fb || math.IsNaN(fa) && math.IsNaN(fb))
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !plainEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !plainEqual(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestStructuredBounds checks yamlNodes against the parser and the
// encoders against their size bounds, on random input.
func TestStructuredBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		checkYAMLNodes(t, randomYAML(r))
		checkEncoders(t, randomValue(r, 0))
	}
}

// FuzzStructured decodes any text as YAML: the node bound holds, and
// whatever fromYAML returns encodes within bounds and reads back the same.
func FuzzStructured(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb: [x, 'y', \"z\"]\nc: {d: ~}\n",
		"- &a {k: v}\n- *a\n- <<: *a\n  k: w\n",
		"s: |\n  two\n  lines\n\nt: >-\n  folded\n",
		"? [a]\n: b\n",
		"a: &a [*a]\n",
		"x: !!binary aGVsbG8=\ny: !!int '12'\nz: .inf\nw: 0o17\nv: 2024-01-02\nu: yes\n",
		"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n",
		"[[[[[[[[[[]]]]]]]]]]",
		"--- a\n--- b\n",
		"\"\\x01\\u2028\\U0001F600\": \"\\t\\r\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1<<16 {
			return
		}
		checkYAMLNodes(t, s)
		v, err := newRun(&store{}).fromYAML(s)
		if err != nil {
			return
		}
		checkEncoders(t, v)
	})
}

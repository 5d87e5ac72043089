package render

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"text/template"
	"unicode"
)

// sizeParts make strings with what changes sizes: escapes of every kind,
// multi-byte and invalid UTF-8, runes whose case has another length.
var sizeParts = []string{"a", "Z", " ", "<", ">", "&", "'", "\"", "\\", "=", "\n", "\x00", "\x01", "\x7f", "é", "ı", "ȿ", "ſ",
	"\u2028", "\U0001F600", "\xff", "\xe2\x82", "%", "+", "/", "~"}

func randomText(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(sizeParts[r.IntN(len(sizeParts))])
	}
	return b.String()
}

// randomValue is a value like those templates hold: strings, numbers,
// bools, nil, lists, maps, KVPairs.
func randomValue(r *rand.Rand, depth int) any {
	k := r.IntN(11)
	if depth > 3 {
		k = r.IntN(6)
	}
	switch k {
	case 0, 1:
		return randomText(r)
	case 2:
		return r.IntN(1<<20) - 1<<19
	case 3:
		return []float64{0, 1.5, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e21, 123456789.123456789}[r.IntN(6)]
	case 4:
		return r.IntN(2) == 0
	case 5:
		return nil
	case 6:
		return KVPair{randomText(r), randomText(r)}
	case 7:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomValue(r, depth+1)
		}
		return l
	case 8:
		l := make([]string, r.IntN(4))
		for i := range l {
			l[i] = randomText(r)
		}
		return l
	case 9:
		m := map[string]any{}
		for range r.IntN(4) {
			m[randomText(r)] = randomValue(r, depth+1)
		}
		return m
	default:
		return []int{r.IntN(100), -r.IntN(1 << 40)}
	}
}

var formatParts = []string{"%", "%%", "%v", "%+v", "%#v", "%s", "%q", "%#q", "%x", "% x", "% #x", "%X", "%d", "%5d", "%-8s", "%08.3f",
	"%f", "%e", "%g", "%b", "%o", "%O", "%c", "%U", "%#U", "%t", "%T", "%p", "%z", "%[2]s", "%[1]*d", "%.*f", "%[3]v", "%[x]d",
	"%!", "%.", "%5.", "%123456789d", "lit", " ", "é", "\xff"}

func randomFormat(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteString(formatParts[r.IntN(len(formatParts))])
	}
	return b.String()
}

// TestSizeBounds checks every size function against what it bounds, on
// random input: never short, and exact where it says so.
func TestSizeBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const noLimit = math.MaxInt64 / 2
	for range 20000 {
		s := randomText(r)
		exact := []struct {
			name      string
			got, want int
		}{
			{"htmlLen", int(htmlLen(s)), len(template.HTMLEscapeString(s))},
			{"urlLen", int(urlLen(s)), len(url.QueryEscape(s))},
			{"caseLen upper", int(caseLen(s, unicode.ToUpper)), len(strings.ToUpper(s))},
			{"caseLen lower", int(caseLen(s, unicode.ToLower)), len(strings.ToLower(s))},
		}
		for _, e := range exact {
			if e.got != e.want {
				t.Fatalf("%s(%q) = %d, want %d", e.name, s, e.got, e.want)
			}
		}
		if n, want := jsLen(s), len(template.JSEscapeString(s)); n < int64(want) {
			t.Fatalf("jsLen(%q) = %d < %d", s, n, want)
		}

		args := make([]any, r.IntN(4))
		for i := range args {
			args[i] = randomValue(r, 0)
		}
		format := randomFormat(r)
		if n, out := printfSize(format, args, noLimit), fmt.Sprintf(format, args...); n < int64(len(out)) {
			t.Fatalf("printfSize(%q, %#v) = %d < %d: %q", format, args, n, len(out), out)
		}
		if n, out := printSize(args, noLimit), fmt.Sprint(args...); n < int64(len(out)) {
			t.Fatalf("printSize(%#v) = %d < %d: %q", args, n, len(out), out)
		}
		if n, out := printSize(args, noLimit), fmt.Sprintln(args...); n < int64(len(out)) {
			t.Fatalf("printSize(%#v) = %d < %d for Sprintln: %q", args, n, len(out), out)
		}
		if n, out := 5*printSize(args, noLimit), template.HTMLEscaper(args...); n < int64(len(out)) {
			t.Fatalf("html bound of %#v = %d < %d", args, n, len(out))
		}

		v := randomValue(r, 0)
		for _, indent := range []int64{0, 2} {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", strings.Repeat(" ", int(indent)))
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			if n := jsonSize(reflect.ValueOf(v), indent, 0, noLimit); n < int64(b.Len()-1) {
				t.Fatalf("jsonSize(%#v, %d) = %d < %d: %s", v, indent, n, b.Len()-1, b.String())
			}
		}
		if s := randomText(r); jsonStringLen(s) != int64(len(mustMarshal(t, s))) {
			t.Fatalf("jsonStringLen(%q) = %d, want %d", s, jsonStringLen(s), len(mustMarshal(t, s)))
		}
	}
}

func mustMarshal(t *testing.T, v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// FuzzPrintfSize checks that printfSize never falls short of what
// fmt.Sprintf prints, for any format.
func FuzzPrintfSize(f *testing.F) {
	f.Add("%v %[2]*d %q", "a\x00é", 3)
	f.Fuzz(func(t *testing.T, format, s string, n int) {
		if strings.Count(format, "%") > 50 {
			return
		}
		for _, args := range [][]any{{s, n}, {n, s, []string{s, s}}, {map[string]any{s: n}}, {}} {
			b := printfSize(format, args, math.MaxInt64/2)
			if b > 64<<20 {
				continue // wide padding: slow to print, and refused anyway
			}
			if out := fmt.Sprintf(format, args...); b < int64(len(out)) {
				t.Fatalf("printfSize(%q, %#v) = %d < %d", format, args, b, len(out))
			}
		}
	})
}

package render

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The functions of this file bound the size of what a function would
// return, before it is built, so that one call cannot allocate far beyond
// MaxOutput. A bound may exceed the true size, never fall short of it.
// Each returns early, with a value above limit, once the bound passes
// limit, so that measuring a huge value costs no more than the limit.

// maxFmtNum is the largest width or precision fmt takes from a "*"
// argument (its tooLarge). A written one can reach ten times more: fmt
// checks the number before it adds each digit.
const maxFmtNum = 1_000_000

// fmtVerb is one verb of a format and the flags that change its size.
type fmtVerb struct {
	verb               rune
	sharp, plus, space bool
	// pad bounds what width and precision add to each value printed.
	pad int64
}

// parseFormat lists the verbs of a fmt format, the way fmt's doPrintf
// scans them. simple is false when a verb uses an argument index ("%[2]d")
// or a "*" width or precision: then which argument a verb prints is not
// followed, and each verb is bounded by the largest argument. extra is
// true when fmt may print arguments after the verbs (%!(EXTRA ...)): it
// stops at a width or precision too large to parse. stars counts the "*"
// widths and precisions, each of which may print an error.
func parseFormat(format string) (verbs []fmtVerb, simple, extra bool, stars int) {
	simple = true
	end := len(format)
	// argIndex skips an argument index like [2] at i, as fmt's
	// parseArgNumber does: to the first "]", or one byte if there is none.
	argIndex := func(i int) int {
		if i >= end || format[i] != '[' {
			return i
		}
		simple = false
		if j := strings.IndexByte(format[i+1:], ']'); j >= 0 && end-i >= 3 {
			return i + 1 + j + 1
		}
		return i + 1
	}
	// number skips a width or precision at i and adds it to the padding.
	number := func(i int, v *fmtVerb) int {
		if i < end && format[i] == '*' {
			simple = false
			stars++
			v.pad += maxFmtNum
			return i + 1
		}
		n := int64(0)
		for ; i < end && '0' <= format[i] && format[i] <= '9'; i++ {
			if n > maxFmtNum {
				extra = true // fmt's parsenum gives up, and the format ends
				return end
			}
			n = n*10 + int64(format[i]-'0')
		}
		v.pad += n
		return i
	}
	for i := 0; i < end; {
		if format[i] != '%' {
			i++
			continue
		}
		i++
		var v fmtVerb
	flags:
		for ; i < end; i++ {
			switch format[i] {
			case '#':
				v.sharp = true
			case '+':
				v.plus = true
			case ' ':
				v.space = true
			case '0', '-':
			default:
				break flags
			}
		}
		i = argIndex(i)
		i = number(i, &v)
		if i+1 < end && format[i] == '.' {
			i = argIndex(i + 1)
			i = number(i, &v)
		}
		i = argIndex(i)
		if i >= end {
			break // %!(NOVERB)
		}
		r, n := utf8.DecodeRuneInString(format[i:])
		i += n
		if r == '%' {
			continue
		}
		v.verb = r
		verbs = append(verbs, v)
	}
	return verbs, simple, extra || !simple, stars
}

// printfSize bounds len(fmt.Sprintf(format, args...)).
func printfSize(format string, args []any, limit int64) int64 {
	const errText = 32 // %!d(MISSING), %!(BADINDEX), %!(EXTRA ..., %!(NOVERB)
	total := int64(len(format)) + errText
	verbs, simple, extra, stars := parseFormat(format)
	total += int64(stars) * errText // %!(BADWIDTH), %!(BADPREC)
	for i, v := range verbs {
		switch {
		case simple && i < len(args):
			total += fmtSize(reflect.ValueOf(args[i]), &v, 0, limit-total)
		case simple:
			total += errText
		default:
			m := int64(errText)
			for _, a := range args {
				m = max(m, fmtSize(reflect.ValueOf(a), &v, 0, limit-total))
				if total+m > limit {
					break
				}
			}
			total += m
		}
		if total > limit {
			return total
		}
	}
	if extra || len(verbs) < len(args) {
		// %!(EXTRA type=value, ...).
		v := fmtVerb{verb: 'v'}
		for _, a := range args {
			total += errText + fmtSize(reflect.ValueOf(a), &v, 0, limit-total)
			if total > limit {
				return total
			}
		}
	}
	return total
}

// printSize bounds len(fmt.Sprint(args...)), and of fmt.Sprintln.
func printSize(args []any, limit int64) int64 {
	total := int64(1)
	v := fmtVerb{verb: 'v'}
	for _, a := range args {
		total += 1 + fmtSize(reflect.ValueOf(a), &v, 0, limit-total)
		if total > limit {
			return total
		}
	}
	return total
}

var (
	errorType     = reflect.TypeFor[error]()
	stringerType  = reflect.TypeFor[fmt.Stringer]()
	formatterType = reflect.TypeFor[fmt.Formatter]()
	goStringType  = reflect.TypeFor[fmt.GoStringer]()
)

// fmtSize bounds what fmt prints for x with the verb v. depth is 0 for
// an operand, more for what it holds (fmt prints a pointer operand's
// target, but only the address of a nested pointer).
func fmtSize(x reflect.Value, v *fmtVerb, depth int, limit int64) int64 {
	if !x.IsValid() {
		return 16 + v.pad // <nil>, %!d(<nil>)
	}
	t := x.Type()
	if v.verb == 'T' {
		return int64(len(t.String())) + v.pad
	}
	if x.CanInterface() && (t.Implements(errorType) || t.Implements(stringerType) || t.Implements(formatterType) || t.Implements(goStringType)) {
		// No value a template reaches has such methods; should one, fmt
		// calls them, and their result is what counts.
		s := fmt.Sprintf("%#v|%+v", x.Interface(), x.Interface())
		return 5*int64(len(s)) + v.pad + 32
	}
	bad := int64(len(t.String())) + 8 // %!s(int=...)
	switch x.Kind() {
	case reflect.Bool:
		return 16 + v.pad
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		switch v.verb {
		case 'b':
			return 66 + v.pad
		case 'c', 'd', 'o', 'O', 'q', 'x', 'X', 'U', 'v':
			return 24 + v.pad
		}
		return 24 + bad + v.pad
	case reflect.Float32, reflect.Float64:
		return floatSize(v) + v.pad
	case reflect.Complex64, reflect.Complex128:
		return 2*(floatSize(v)+v.pad) + 4
	case reflect.String:
		return stringSize(int64(x.Len()), v, bad)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			switch v.verb {
			case 's', 'q', 'x', 'X':
				return stringSize(int64(x.Len()), v, bad)
			}
		}
		total := int64(len(t.String())) + 4
		for i := 0; i < x.Len() && total <= limit; i++ {
			total += 2 + fmtSize(x.Index(i), v, depth+1, limit-total)
		}
		return total
	case reflect.Map:
		total := int64(len(t.String())) + 4
		for it := x.MapRange(); it.Next() && total <= limit; {
			total += 4 + fmtSize(it.Key(), v, depth+1, limit-total)
			total += fmtSize(it.Value(), v, depth+1, limit-total)
		}
		return total
	case reflect.Struct:
		total := int64(len(t.String())) + 4
		for i := 0; i < x.NumField() && total <= limit; i++ {
			total += int64(len(t.Field(i).Name)) + 4 + fmtSize(x.Field(i), v, depth+1, limit-total)
		}
		return total
	case reflect.Interface:
		if x.IsNil() {
			return bad + 16 + v.pad
		}
		return fmtSize(x.Elem(), v, depth+1, limit)
	case reflect.Pointer:
		if depth == 0 && !x.IsNil() {
			switch x.Elem().Kind() {
			case reflect.Array, reflect.Slice, reflect.Struct, reflect.Map:
				return 1 + fmtSize(x.Elem(), v, depth+1, limit)
			}
		}
	}
	// An address, or a kind no template value has.
	return 2*bad + 32 + v.pad
}

// floatSize bounds a float64 without padding: %f of the largest float64
// has 309 digits.
func floatSize(v *fmtVerb) int64 {
	switch v.verb {
	case 'f', 'F':
		return 330
	}
	return 48
}

// stringSize bounds a string of n bytes printed with v.
func stringSize(n int64, v *fmtVerb, bad int64) int64 {
	switch v.verb {
	case 's', 'v':
		if v.sharp {
			return 4*n + 2 + v.pad // %#v quotes
		}
		return n + v.pad
	case 'q':
		return 4*n + 2 + v.pad // \x00 for each byte at worst
	case 'x', 'X':
		if v.sharp || v.space {
			return 5*n + 2 + v.pad // "0x61 0x62"
		}
		return 2*n + v.pad
	}
	if v.sharp {
		return 4*n + 2 + bad + v.pad // %!z(string="...") quotes like %#v
	}
	return n + bad + v.pad
}

// jsonSize bounds what toJSON (indent "") or toPrettyJSON (indent "  ")
// returns for x: exact for the values a template has (strings, numbers,
// bools, maps, lists, KVPair), generous for numbers.
func jsonSize(x reflect.Value, indent int64, depth int64, limit int64) int64 {
	if !x.IsValid() {
		return 4 // null
	}
	t := x.Type()
	if t.Implements(reflect.TypeFor[json.Marshaler]()) || t.Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
		// No value a template reaches has such methods.
		return limit + 1
	}
	// open and close: the brackets of a composite of n entries, with the
	// newlines and indentation of pretty output.
	around := func(n int) int64 {
		if n == 0 {
			return 2
		}
		if indent == 0 {
			return 2 + int64(n-1) // commas
		}
		return 2 + int64(n-1) + int64(n)*(1+indent*(depth+1)) + 1 + indent*depth
	}
	switch x.Kind() {
	case reflect.Bool:
		return 5
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return 20
	case reflect.Float32, reflect.Float64:
		return 25
	case reflect.String:
		return jsonStringLen(x.String())
	case reflect.Slice, reflect.Array:
		if x.Kind() == reflect.Slice && x.IsNil() {
			return 4
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return int64(base64.StdEncoding.EncodedLen(x.Len())) + 2
		}
		total := around(x.Len())
		for i := 0; i < x.Len() && total <= limit; i++ {
			total += jsonSize(x.Index(i), indent, depth+1, limit-total)
		}
		return total
	case reflect.Map:
		if x.IsNil() {
			return 4
		}
		total := around(x.Len())
		for it := x.MapRange(); it.Next() && total <= limit; {
			k := it.Key()
			if k.Kind() == reflect.String {
				total += jsonStringLen(k.String())
			} else {
				total += 22 // a quoted number
			}
			total += 2 + jsonSize(it.Value(), indent, depth+1, limit-total) // ": "
		}
		return total
	case reflect.Struct:
		total := around(t.NumField())
		for i := 0; i < t.NumField() && total <= limit; i++ {
			if f := t.Field(i); f.IsExported() {
				total += jsonStringLen(f.Name) + 2 + jsonSize(x.Field(i), indent, depth+1, limit-total)
			}
		}
		return total
	case reflect.Interface, reflect.Pointer:
		if x.IsNil() {
			return 4
		}
		return jsonSize(x.Elem(), indent, depth, limit)
	}
	return 4 // encoding/json refuses the rest
}

// jsonStringLen is the length of s as a JSON string without HTML escaping:
// quotes, two-byte escapes, \u00XX for other control bytes, \ufffd for
// each invalid byte and \u2028, \u2029 for those two runes.
func jsonStringLen(s string) int64 {
	n := int64(2)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += int64(size)
		}
		i += size
	}
	return n
}

// caseLen is the length of strings.Map(f, s): invalid bytes become
// U+FFFD, and some runes change length with their case.
func caseLen(s string, f func(rune) rune) int64 {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++ // ASCII keeps its length
	}
	n := int64(i)
	for _, r := range s[i:] {
		n += int64(utf8.RuneLen(f(r)))
	}
	return n
}

// htmlLen is the length of template.HTMLEscapeString(s).
func htmlLen(s string) int64 {
	n := int64(len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\'', '&':
			n += 4 // &#34; &#39; &amp;
		case '<', '>':
			n += 3 // &lt; &gt;
		case 0:
			n += 2 // U+FFFD
		}
	}
	return n
}

// jsLen bounds the length of template.JSEscapeString(s).
func jsLen(s string) int64 {
	n := int64(0)
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'' || r == '"':
			n += 2
		case r == '<' || r == '>' || r == '&' || r == '=':
			n += 6
		case r < utf8.RuneSelf && unicode.IsPrint(r):
			n++
		case r < utf8.RuneSelf:
			n += 6
		case unicode.IsPrint(r):
			n += int64(utf8.RuneLen(r))
		default:
			n += 10 // \uXXXXXX
		}
	}
	return n
}

// urlLen is the length of template.URLQueryEscaper(s) (url.QueryEscape):
// "+" for a space, three bytes for each byte that is not unreserved.
func urlLen(s string) int64 {
	n := int64(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == ' ' {
			n++
		} else {
			n += 3
		}
	}
	return n
}

// jsonValues bounds the number of values in the JSON text s: one, plus
// one for each comma, colon and opening bracket outside strings.
func jsonValues(s string) int64 {
	n := int64(1)
	in := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == ',' || c == ':' || c == '[' || c == '{'):
			n++
		}
	}
	return n
}

// yamlSize bounds what toYAML writes for the plain value v at nesting
// depth depth (two spaces of indentation a level). A string may be
// double-quoted with an escape of up to four bytes a byte, a literal block
// with every line indented, or base64 in lines; a key may take the
// explicit "? key" form.
func yamlSize(v any, depth int64, limit int64) int64 {
	line := 2*depth + 8 // indentation, "- ", ": ", "? ", newline
	switch x := v.(type) {
	case nil, bool:
		return 5
	case int64:
		return 20
	case float64:
		return 32
	case string:
		return yamlStringSize(x, depth)
	case []any:
		total := int64(2)
		for _, e := range x {
			if total > limit {
				break
			}
			total += line + yamlSize(e, depth+1, limit-total)
		}
		return total
	case map[string]any:
		total := int64(2)
		for k, e := range x {
			if total > limit {
				break
			}
			total += 2*line + yamlStringSize(k, depth) + yamlSize(e, depth+1, limit-total)
		}
		return total
	}
	return limit + 1
}

// yamlStringSize bounds a string of toYAML at depth. The encoder writes
// it plain, quoted (a quote doubled or escaped: two bytes; a control byte
// as \x01: four; a non-ASCII rune as \u or \U escapes: at most three a
// byte) or as a literal block with each line indented; a string that is
// not UTF-8 as base64 in lines.
func yamlStringSize(s string, depth int64) int64 {
	n := int64(16)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"' || c == '\\':
			n += 2
		case c < 0x20 || c == 0x7f:
			n += 4
		case c >= utf8.RuneSelf:
			n += 3
		default:
			n++
		}
	}
	lines := int64(strings.Count(s, "\n")) + 2
	if !utf8.ValidString(s) {
		lines += int64(len(s))/32 + 1
	}
	return n + lines*(2*depth+4)
}

// tomlSize bounds what toTOML writes for the plain value v, whose table
// header would be path bytes long: every table may get a header of its
// whole dotted path (a list of tables, one for each), every key and
// string may be quoted with six-byte escapes (\u0001).
func tomlSize(v any, path int64, limit int64) int64 {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		return 5
	case int64:
		return 20
	case float64:
		return 32
	case string:
		return 6*int64(len(x)) + 2
	case []any:
		total := int64(2)
		for _, e := range x {
			if total > limit {
				break
			}
			total += 2 + tomlSize(e, path, limit-total)
		}
		return total
	case map[string]any:
		total := path + 8 // [[path]], newlines
		for k, e := range x {
			if total > limit {
				break
			}
			kq := 6*int64(len(k)) + 2
			total += kq + 6 + tomlSize(e, path+kq+1, limit-total)
		}
		return total
	}
	return limit + 1
}

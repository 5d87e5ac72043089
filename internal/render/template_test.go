package render_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// templatesDir is where the test bindings' templates claim to live.
const templatesDir = "/etc/reconfig/templates"

// newBinding returns a binding with the default delimiters whose template
// is templates/<id>.tmpl.
func newBinding(id, key string, recursive bool, altkeys map[string]string) *bindings.Binding {
	return &bindings.Binding{
		ID: id, Key: key, Recursive: recursive, AltKeys: altkeys,
		Source: id + ".tmpl", SourcePath: templatesDir + "/" + id + ".tmpl",
		Target:    "/etc/" + id + ".conf",
		LeftDelim: "{{", RightDelim: "}}",
	}
}

// newSnapshot returns a snapshot at rev that covers sels and holds data.
// Every key of data must lie in a span of the cover.
func newSnapshot(t testing.TB, rev int64, sels []snapshot.Selector, data map[string]string) *snapshot.Snapshot {
	t.Helper()
	s := &snapshot.Snapshot{Revision: rev, Spans: snapshot.Cover(sels)}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i := sort.Search(len(s.Spans), func(i int) bool { return s.Spans[i].End > k })
		if i == len(s.Spans) || k < s.Spans[i].Start {
			// etcd holds it, but no binding reads it (like /app-old next to
			// a recursive /app): a snapshot does not contain it.
			continue
		}
		if err := s.Spans[i].Append(snapshot.KV{Key: k, Value: data[k]}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// renderText compiles src for b and renders it with the snapshot.
func renderText(t testing.TB, b *bindings.Binding, src string, snap *snapshot.Snapshot) (string, error) {
	t.Helper()
	tmpl, err := render.CompileText(b, src)
	if err != nil {
		t.Fatalf("CompileText: %v", err)
	}
	in, err := render.Gather(b, snap)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out, err := tmpl.Execute(context.Background(), in)
	if err != nil && out != nil {
		t.Errorf("Execute returned output with an error")
	}
	return string(out), err
}

// renderError asserts that err is a *render.Error and returns it.
func renderError(t *testing.T, err error) *render.Error {
	t.Helper()
	if err == nil {
		t.Fatal("rendered without error, want one")
	}
	var re *render.Error
	if !errors.As(err, &re) {
		t.Fatalf("error is %T (%v), want *render.Error", err, err)
	}
	return re
}

func TestDataModel(t *testing.T) {
	const src = `id={{.ID}} watched={{.Watched}} rev={{.Revision}}
{{range $k, $v := .Data}}data {{$k}}={{$v}}
{{end}}{{range $name, $m := .AltData}}alt {{$name}} ({{len $m}})
{{range $k, $v := $m}}  {{$k}}={{$v}}
{{end}}{{end}}`
	data := map[string]string{
		"/app":             "root",
		"/app/a":           "1",
		"/app/b/c":         "2",
		"/app-old/x":       "stale",
		"/apple/x":         "fruit",
		"/db/primary":      "db1",
		"/db/primary/port": "5432",
		"/db/primaryx":     "other",
		"/test4":           "value4",
		"/test4/child":     "not read",
		"/test4x":          "not read",
	}
	tests := []struct {
		name    string
		binding *bindings.Binding
		rev     int64
		want    string
	}{
		{
			name:    "recursive key with altkeys",
			binding: newBinding("frontend", "/app", true, map[string]string{"db": "/db/primary", "fruit": "/apple", "none": "/nothing"}),
			rev:     42,
			want: `id=frontend watched=/app rev=42
data /app=root
data /app/a=1
data /app/b/c=2
alt db (2)
  /db/primary=db1
  /db/primary/port=5432
alt fruit (1)
  /apple/x=fruit
alt none (0)
`,
		},
		{
			name:    "recursive key written with a trailing slash",
			binding: newBinding("frontend", "/app/", true, nil),
			rev:     7,
			want: `id=frontend watched=/app/ rev=7
data /app=root
data /app/a=1
data /app/b/c=2
`,
		},
		{
			name:    "single key: one entry, no children",
			binding: newBinding("test4_altkey", "/test4", false, nil),
			rev:     1,
			want: `id=test4_altkey watched=/test4 rev=1
data /test4=value4
`,
		},
		{
			name:    "missing single key: empty .Data",
			binding: newBinding("gone", "/gone", false, nil),
			rev:     9000000000,
			want:    "id=gone watched=/gone rev=9000000000\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sels := append(tt.binding.Selectors(), snapshot.Selector{Key: "/", Recursive: true})
			got, err := renderText(t, tt.binding, src, newSnapshot(t, tt.rev, sels, data))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestDelimiters(t *testing.T) {
	data := map[string]string{"/app/name": "web", "/app/port": "8080"}
	tests := []struct {
		name    string
		pattern string
		src     string
		want    string
	}{
		{
			name:    "default",
			pattern: bindings.DefaultPattern,
			src:     "name={{getv \"/app/name\"}} <% not an action %>",
			want:    "name=web <% not an action %>",
		},
		{
			name:    "original's #% %# with trim markers",
			pattern: "#% %#",
			src: `# {{ literal braces stay }}
#% range $k, $v := .Data -%#
Key #% $k %# => #% $v %#
#% end -%#
end`,
			want: `# {{ literal braces stay }}
Key /app/name => web
Key /app/port => 8080
end`,
		},
		{
			name:    "<% %> around a Helm-like file",
			pattern: "<% %>",
			src:     "image: {{ .Values.image }}\nport: <% getv \"/app/port\" %>\n<%- /* a comment */%>\nname: <% toUpper (getv \"/app/name\") %>\n",
			want:    "image: {{ .Values.image }}\nport: 8080\nname: WEB\n",
		},
		{
			name:    "left token ending in =",
			pattern: "<%= %>",
			src:     "<%= getv \"/app/name\" %>",
			want:    "web",
		},
		{
			name:    "square brackets",
			pattern: "[[ ]]",
			src:     "[[ range ls \"/app\" ]][[ . ]];[[ end ]]",
			want:    "name;port;",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("web", "/app", true, nil)
			var err error
			if b.LeftDelim, b.RightDelim, err = bindings.ParsePattern(tt.pattern); err != nil {
				t.Fatal(err)
			}
			got, err := renderText(t, b, tt.src, newSnapshot(t, 3, b.Selectors(), data))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		src     string
		line    int
		want    []string
	}{
		{
			name: "unclosed action",
			src:  "upstream {\n  server a;\n  server {{getv \"/app/a\" }\n}\n",
			line: 3,
			want: []string{"syntax error", `unexpected "}" in operand`, `(delimiters are "{{" and "}}")`},
		},
		{
			name: "action left open at the end",
			src:  "upstream {\n  server a;\n  server {{getv \"/app/a\"",
			line: 3,
			want: []string{"syntax error", "unclosed action", `(delimiters are "{{" and "}}")`},
		},
		{
			name: "unknown function",
			src:  "# header\n{{ getval \"/app/a\" }}\n",
			line: 2,
			want: []string{"syntax error", `function "getval" not defined`},
		},
		{
			name: "end without range",
			src:  "a\nb\nc\n{{ end }}\n",
			line: 4,
			want: []string{"syntax error", "unexpected {{end}}"},
		},
		{
			name: "range without end",
			src:  "{{ range .Data }}\n{{ . }}",
			line: 2,
			want: []string{"syntax error", "unexpected EOF"},
		},
		{
			name:    "ERB's #%= with the #% %# pattern",
			pattern: "#% %#",
			src:     "ok\n#%= .ID %#\n",
			line:    2,
			want:    []string{"syntax error", `"="`, `(delimiters are "#%" and "%#")`},
		},
		{
			name:    "default delimiters in a #% %# template are text, a bad #% action is not",
			pattern: "#% %#",
			src:     "{{ .ID }}\n\n\n#% .ID \n",
			line:    5,
			want:    []string{"syntax error", "unclosed action started at web.tmpl:4", `(delimiters are "#%" and "%#")`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("web", "/app", true, nil)
			if tt.pattern != "" {
				b.LeftDelim, b.RightDelim, _ = bindings.ParsePattern(tt.pattern)
			}
			tmpl, err := render.CompileText(b, tt.src)
			if tmpl != nil {
				t.Errorf("CompileText returned a template with an error")
			}
			re := renderError(t, err)
			if re.Binding != "web" || re.Template != templatesDir+"/web.tmpl" || re.Line != tt.line {
				t.Errorf("error fields = %+v, want binding web, template %s/web.tmpl, line %d", re, templatesDir, tt.line)
			}
			msg := err.Error()
			prefix := fmt.Sprintf(`binding "web": template %s/web.tmpl line %d: `, templatesDir, tt.line)
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestExecErrors(t *testing.T) {
	data := map[string]string{"/app/a": "1", "/app/zero": "0", "/db/x": "db", "/secret/k": "s3cret"}
	tests := []struct {
		name string
		src  string
		line int
		key  string // the key the error must name, if any
		want []string
	}{
		{
			name: "getv of a missing key",
			src:  "# generated\nlisten {{getv \"/app/a\"}}\ntimeout {{getv \"/app/timeout\"}}\n",
			line: 3, key: "/app/timeout",
			want: []string{`getv "/app/timeout"`, "key /app/timeout does not exist", `getv "/app/timeout" "fallback"`},
		},
		{
			name: "getv of a missing altkey",
			src:  "{{getv \"/db/y\"}}",
			line: 1, key: "/db/y",
			want: []string{"key /db/y does not exist"},
		},
		{
			name: "getv of a key the binding does not declare",
			src:  "\n\n{{getv \"/secret/k\"}}",
			line: 3, key: "/secret/k",
			want: []string{"key /secret/k is not read by this binding", `add it to "key" or "altkeys"`},
		},
		{
			name: "getv of a sibling that only shares the prefix",
			src:  "{{getv \"/apple\"}}",
			line: 1, key: "/apple",
			want: []string{"key /apple is not read by this binding"},
		},
		{
			name: "get of a missing key",
			src:  "{{with get \"/app/b\"}}{{.Value}}{{end}}",
			line: 1, key: "/app/b",
			want: []string{"key /app/b does not exist"},
		},
		{
			name: "missingkey=error on .AltData.typo",
			src:  "ok\n{{range $k, $v := .AltData.typo}}{{$k}}{{end}}",
			line: 2,
			want: []string{"<.AltData.typo>", `map has no entry for key "typo"`},
		},
		{
			name: "unknown field of the data",
			src:  "{{.Key}}",
			line: 1,
			want: []string{"<.Key>", "can't evaluate field Key"},
		},
		{
			name: "division by a zero from etcd",
			src:  "a\n{{div 100 (atoi (getv \"/app/zero\"))}}",
			line: 2,
			want: []string{"div: division by zero"},
		},
		{
			name: "index out of range",
			src:  "{{index (split \"a,b\" \",\") 5}}",
			line: 1,
			want: []string{"index out of range"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("web", "/app", true, map[string]string{"db": "/db"})
			sels := append(b.Selectors(), snapshot.Selector{Key: "/secret", Recursive: true})
			out, err := renderText(t, b, tt.src, newSnapshot(t, 5, sels, data))
			if out != "" {
				t.Errorf("output %q with an error", out)
			}
			re := renderError(t, err)
			if re.Binding != "web" || re.Template != templatesDir+"/web.tmpl" || re.Line != tt.line || re.Key != tt.key {
				t.Errorf("error fields = %+v, want binding web, template %s/web.tmpl, line %d, key %q", re, templatesDir, tt.line, tt.key)
			}
			msg := err.Error()
			prefix := fmt.Sprintf(`binding "web": template %s/web.tmpl line %d: `, templatesDir, tt.line)
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	const src = `{{range $k, $v := .Data}}{{$k}}={{$v}}
{{end}}--- alt
{{range $name, $m := .AltData}}{{$name}}:{{range $k, $v := $m}} {{$k}}={{$v}}{{end}}
{{end}}--- toJSON
{{toJSON .Data}}
--- toPrettyJSON
{{toPrettyJSON .AltData}}
--- keys
{{join (keys .Data) ","}}
--- json
{{range $k, $v := json (getv "/svc/meta")}}{{$k}}={{$v}},{{end}}
--- map
{{range $k, $v := map "z" 1 "a" 2 "m" 3 "b" 4 "y" 5}}{{$k}}{{$v}}{{end}}
--- gets, getvs, ls, lsdir
{{range gets "/svc/*/name"}}{{.Key}} {{end}}
{{join (getvs "/svc/*/name") " "}}
{{join (ls "/svc") " "}}
{{join (lsdir "/svc") " "}}
`
	data := map[string]string{}
	meta := map[string]int{}
	// Key names that sort differently from their insertion and hash order.
	for i := 0; i < 600; i++ {
		name := fmt.Sprintf("n%03d", (i*337)%600)
		data["/svc/"+name+"/name"] = fmt.Sprintf("host-%d", (i*71)%600)
		data["/svc/"+name+"/port"] = fmt.Sprint(8000 + i)
		meta[name] = i
	}
	for i := 0; i < 200; i++ {
		data[fmt.Sprintf("/alt/%c/k%d", 'a'+i%7, i)] = fmt.Sprint(i * i)
	}
	var mb strings.Builder
	mb.WriteString("{")
	for name, i := range meta {
		if mb.Len() > 1 {
			mb.WriteString(",")
		}
		fmt.Fprintf(&mb, "%q:%d", name, i)
	}
	mb.WriteString("}")
	data["/svc/meta"] = mb.String()
	alt := map[string]string{}
	for i := 0; i < 7; i++ {
		alt[fmt.Sprintf("alt%c", 'g'-i)] = fmt.Sprintf("/alt/%c", 'a'+i)
	}
	b := newBinding("many", "/svc", true, alt)

	renderOnce := func() string {
		// A fresh template, snapshot and input each time.
		got, err := renderText(t, b, src, newSnapshot(t, 77, b.Selectors(), data))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := renderOnce()
	for i := 0; i < 3; i++ {
		if again := renderOnce(); again != first {
			t.Fatalf("render %d differs from the first", i+2)
		}
	}

	// And the order is the sorted one, not merely a stable one.
	var want strings.Builder
	for _, k := range sortedKeys(data) {
		if strings.HasPrefix(k, "/svc/") {
			fmt.Fprintf(&want, "%s=%s\n", k, data[k])
		}
	}
	if got, _, _ := strings.Cut(first, "--- alt\n"); got != want.String() {
		t.Errorf(".Data is not ranged in key order")
	}
	var alts strings.Builder
	for _, name := range sortedKeys(alt) {
		fmt.Fprintf(&alts, "%s:", name)
		for _, k := range sortedKeys(data) {
			if strings.HasPrefix(k, alt[name]+"/") {
				fmt.Fprintf(&alts, " %s=%s", k, data[k])
			}
		}
		alts.WriteString("\n")
	}
	if _, got, _ := strings.Cut(first, "--- alt\n"); !strings.HasPrefix(got, alts.String()+"--- toJSON\n") {
		t.Errorf(".AltData is not ranged in name and key order:\n%.600s\nwant prefix\n%.600s", got, alts.String())
	}
	for _, want := range []string{
		"\n--- map\na2b4m3y5z1\n",
		"\n--- json\nn000=0,n001=",
		"\n--- gets, getvs, ls, lsdir\n/svc/n000/name /svc/n001/name ",
		"\n--- keys\n/svc/meta,/svc/n000/name,/svc/n000/port,/svc/n001/name,",
		"\n--- toJSON\n{\"/svc/meta\":",
		"\n--- toPrettyJSON\n{\n  \"alta\": {\n    \"/alt/g/k104\": \"10816\",\n",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestBinaryValues(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]string
		src     string
		want    string // output, when no error
		wantKey string // the key the error names
		wantErr []string
	}{
		{
			name:    "NUL byte",
			data:    map[string]string{"/app/cert.der": "0\x82\x00\x01"},
			src:     "cert: {{getv \"/app/cert.der\"}}\n",
			wantKey: "/app/cert.der",
			wantErr: []string{"key /app/cert.der holds binary data", "NUL byte at offset 8", "use base64Encode"},
		},
		{
			name:    "invalid UTF-8",
			data:    map[string]string{"/app/name": "caf\xe9"},
			src:     "name={{getv \"/app/name\"}}",
			wantKey: "/app/name",
			wantErr: []string{"key /app/name holds binary data", "not valid UTF-8 at offset 8"},
		},
		{
			name:    "through .Data",
			data:    map[string]string{"/app/a": "text", "/app/b": "\x00"},
			src:     "{{range $k, $v := .Data}}{{$v}}{{end}}",
			wantKey: "/app/b",
			wantErr: []string{"key /app/b holds binary data"},
		},
		{
			name:    "the key named is the one in the output",
			data:    map[string]string{"/app/a.der": "\x00\x01", "/app/b.key": "\xff\x00key"},
			src:     "a={{base64Encode (getv \"/app/a.der\")}}\nb={{getv \"/app/b.key\"}}\n",
			wantKey: "/app/b.key",
			wantErr: []string{"key /app/b.key holds binary data"},
		},
		{
			name:    "binary made by the template names no key",
			data:    map[string]string{"/app/blob": "AAE="},
			src:     "{{base64Decode (getv \"/app/blob\")}}",
			wantErr: []string{"rendered output contains a NUL byte at offset 0", "config files must be text"},
		},
		{
			name:    "binary made by the template does not blame an encoded binary key",
			data:    map[string]string{"/app/a.der": "\x00\x02", "/app/blob": "AAE="},
			src:     "a={{base64Encode (getv \"/app/a.der\")}}\nb={{base64Decode (getv \"/app/blob\")}}",
			wantErr: []string{"rendered output contains a NUL byte at offset 9"},
		},
		{
			name: "base64Encode embeds a binary value",
			data: map[string]string{"/app/cert.der": "0\x82\x00\x01"},
			src:  "cert: {{base64Encode (getv \"/app/cert.der\")}}\n",
			want: "cert: MIIAAQ==\n",
		},
		{
			name: "a binary value that is not rendered is fine",
			data: map[string]string{"/app/cert.der": "\x00", "/app/name": "web"},
			src:  "{{getv \"/app/name\"}}",
			want: "web",
		},
		{
			name: "UTF-8 text is fine",
			data: map[string]string{"/app/name": "café ☕"},
			src:  "{{getv \"/app/name\"}}",
			want: "café ☕",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("web", "/app", true, nil)
			got, err := renderText(t, b, tt.src, newSnapshot(t, 1, b.Selectors(), tt.data))
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			re := renderError(t, err)
			if re.Key != tt.wantKey || re.Binding != "web" {
				t.Errorf("error names key %q, binding %q; want %q, web", re.Key, re.Binding, tt.wantKey)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOutputLimit(t *testing.T) {
	value := strings.Repeat("x", 1023) + "\n"
	tests := []struct {
		name    string
		times   int
		wantErr bool
	}{
		{name: "1 MiB renders", times: 1024},
		{name: "exactly the limit renders", times: render.MaxOutput / 1024},
		{name: "one line over the limit", times: render.MaxOutput/1024 + 1, wantErr: true},
		{name: "far over the limit", times: 1 << 20, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("big", "/big", false, nil)
			src := fmt.Sprintf(`{{$v := getv "/big"}}{{range seq 1 %d}}{{$v}}{{end}}`, tt.times)
			got, err := renderText(t, b, src, newSnapshot(t, 1, b.Selectors(), map[string]string{"/big": value}))
			if !tt.wantErr {
				if err != nil || len(got) != tt.times*1024 {
					t.Fatalf("got %d bytes, %v; want %d", len(got), err, tt.times*1024)
				}
				return
			}
			re := renderError(t, err)
			if want := "rendered output is larger than 32 MiB"; !strings.Contains(err.Error(), want) || re.Binding != "big" {
				t.Errorf("error = %v, want %q", err, want)
			}
		})
	}
}

func TestInputEmpty(t *testing.T) {
	data := map[string]string{
		"/single":    "v",
		"/empty":     "",
		"/app/a":     "1",
		"/apple/x":   "2",
		"/app-old/x": "3",
		"/dir":       "only the key itself",
		"/alt/x":     "4",
	}
	tests := []struct {
		name    string
		binding *bindings.Binding
		want    bool
	}{
		{"single key present", newBinding("a", "/single", false, nil), false},
		{"single key with an empty value is present", newBinding("a", "/empty", false, nil), false},
		{"single key missing", newBinding("a", "/missing", false, nil), true},
		{"single key missing but altkeys have data", newBinding("a", "/missing", false, map[string]string{"x": "/alt"}), true},
		{"prefix with keys", newBinding("a", "/app", true, nil), false},
		{"empty prefix", newBinding("a", "/nothing", true, nil), true},
		{"prefix with only look-alike neighbours", newBinding("a", "/ap", true, nil), true},
		{"single key whose children exist", newBinding("a", "/app", false, nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sels := append(tt.binding.Selectors(), snapshot.Selector{Key: "/", Recursive: true})
			in, err := render.Gather(tt.binding, newSnapshot(t, 1, sels, data))
			if err != nil {
				t.Fatal(err)
			}
			if got := in.Empty(); got != tt.want {
				t.Errorf("Empty() = %v, want %v (Data %v)", got, tt.want, in.Values.Data)
			}
		})
	}
}

func TestGatherNotCovered(t *testing.T) {
	b := newBinding("web", "/app", true, map[string]string{"db": "/db"})
	tests := []struct {
		name string
		sels []snapshot.Selector
		key  string
	}{
		{"main key not in the snapshot", []snapshot.Selector{{Key: "/db", Recursive: true}}, "/app"},
		{"altkey not in the snapshot", []snapshot.Selector{{Key: "/app", Recursive: true}}, "/db"},
		{"only one key of the prefix", []snapshot.Selector{{Key: "/app/a"}, {Key: "/db", Recursive: true}}, "/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := render.Gather(b, newSnapshot(t, 1, tt.sels, nil))
			var nc *snapshot.ErrNotCovered
			if !errors.As(err, &nc) || nc.Key != tt.key {
				t.Fatalf("Gather = %v, %v; want the snapshot does not contain %s", in, err, tt.key)
			}
		})
	}
}

func TestCompileFromLoadedBinding(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"conf.d/haproxy.json": `{"key": "/lb", "recursive": true, "source": "haproxy.cfg.tmpl", "target": "/etc/haproxy/haproxy.cfg", "pattern": "<% %>"}`,
		"templates/haproxy.cfg.tmpl": `# revision <% .Revision %>
backend web
<%- range gets "/lb/servers/*" %>
  server <% base .Key %> <% .Value %> check
<%- end %>
`,
	}
	writeFiles(t, dir, files)
	set, err := bindings.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := set.Get("haproxy.json")
	tmpl, err := render.Compile(b)
	if err != nil {
		t.Fatal(err)
	}
	snap := newSnapshot(t, 12, b.Selectors(), map[string]string{
		"/lb/servers/web2": "10.0.0.2:80",
		"/lb/servers/web1": "10.0.0.1:80",
	})
	in, err := render.Gather(b, snap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Execute(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := "# revision 12\nbackend web\n  server web1 10.0.0.1:80 check\n  server web2 10.0.0.2:80 check\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// The template vanishes after the bindings were loaded.
	if err := os.Remove(b.SourcePath); err != nil {
		t.Fatal(err)
	}
	_, err = render.Compile(b)
	re := renderError(t, err)
	if re.Binding != "haproxy.json" || !strings.Contains(err.Error(), b.SourcePath+": cannot read: no such file or directory") {
		t.Errorf("error = %v", err)
	}
}

// TestOverlappingReads checks that a key read both as the binding's key and
// through an altkey is seen once by the key functions.
func TestOverlappingReads(t *testing.T) {
	b := newBinding("web", "/app", true, map[string]string{"hosts": "/app/hosts", "self": "/app"})
	data := map[string]string{"/app/hosts/a": "1", "/app/hosts/b": "2", "/app/name": "web"}
	const src = `{{len (gets "/app/hosts/*")}} {{join (getvs "/app/*/*") ","}} {{join (ls "/app") ","}} {{len .AltData.hosts}} {{len .AltData.self}} {{len .Data}}`
	got, err := renderText(t, b, src, newSnapshot(t, 1, b.Selectors(), data))
	if err != nil {
		t.Fatal(err)
	}
	if want := "2 1,2 hosts,name 2 3 3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTemplateStructure(t *testing.T) {
	data := map[string]string{"/app/a": "1", "/app/b": "2"}
	tests := []struct {
		name    string
		src     string
		want    string
		wantErr string
		line    int
	}{
		{name: "empty template renders nothing", src: "", want: ""},
		{
			name: "define and template",
			src:  `{{define "server"}}server {{base .Key}} {{.Value}}` + "\n" + `{{end}}{{range gets "/app/*"}}{{template "server" .}}{{end}}`,
			want: "server a 1\nserver b 2\n",
		},
		{
			name: "block with a default",
			src:  `{{block "header" .ID}}# {{.}}{{end}}`,
			want: "# web",
		},
		{
			name:    "undefined template",
			src:     "a\n{{template \"footer\" .}}",
			wantErr: `template "footer" not defined`,
			line:    2,
		},
		{
			name:    "getv with no argument",
			src:     "{{getv}}",
			wantErr: "wrong number of args for getv",
			line:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("web", "/app", true, nil)
			got, err := renderText(t, b, tt.src, newSnapshot(t, 1, b.Selectors(), data))
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			re := renderError(t, err)
			if re.Line != tt.line || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v (line %d), want %q at line %d", err, re.Line, tt.wantErr, tt.line)
			}
		})
	}
}

// TestTemplateReuse renders one compiled template with different inputs,
// concurrently, as watch does across cycles: each render sees its own data.
func TestTemplateReuse(t *testing.T) {
	b := newBinding("web", "/app", true, nil)
	tmpl, err := render.CompileText(b, `{{getv "/app/n"}} {{len .Data}} {{.Revision}}`)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	outs := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		data := map[string]string{"/app/n": fmt.Sprint(i)}
		for j := 0; j < i; j++ {
			data[fmt.Sprintf("/app/x%d", j)] = "x"
		}
		in, err := render.Gather(b, newSnapshot(t, int64(100+i), b.Selectors(), data))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := tmpl.Execute(context.Background(), in)
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if want := fmt.Sprintf("%d %d %d", i, i+1, 100+i); errs[i] != nil || outs[i] != want {
			t.Errorf("render %d = %q, %v; want %q", i, outs[i], errs[i], want)
		}
	}
}

// TestOriginalExamples renders the original reconfig's three examples with
// their data; the outputs are golden files (go test -update rewrites them).
func TestOriginalExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "testfixtures", "cfgtest")
	set, err := bindings.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]string
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	snap := newSnapshot(t, 42, set.Selectors(), data)
	for _, id := range []string{"test1", "test3_altpattern", "test4_altkey"} {
		t.Run(id, func(t *testing.T) {
			b := set.Get(id)
			if b == nil {
				t.Fatalf("no binding %s", id)
			}
			tmpl, err := render.Compile(b)
			if err != nil {
				t.Fatal(err)
			}
			in, err := render.Gather(b, snap)
			if err != nil {
				t.Fatal(err)
			}
			if in.Empty() {
				t.Fatal("input is empty")
			}
			got, err := tmpl.Execute(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "original", id+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s renders:\n%s\nwant (%s):\n%s", id, got, golden, want)
			}
		})
	}
}

// TestCompilerSharesTemplateFiles: bindings naming one template file with
// the same delimiters share one read and parse; other delimiters parse it
// again, and a template that fails gives each binding its own error.
func TestCompilerSharesTemplateFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"conf.d/a.json":      `{"key": "/a", "source": "t.tmpl", "target": "/tmp/a"}`,
		"conf.d/b.json":      `{"key": "/b", "source": "t.tmpl", "target": "/tmp/b"}`,
		"conf.d/c.json":      `{"key": "/c", "source": "t.tmpl", "target": "/tmp/c", "pattern": "<% %>"}`,
		"conf.d/d.json":      `{"key": "/d", "source": "bad.tmpl", "target": "/tmp/d"}`,
		"conf.d/e.json":      `{"key": "/e", "source": "bad.tmpl", "target": "/tmp/e"}`,
		"templates/t.tmpl":   `{{.ID}} <% .ID %>`,
		"templates/bad.tmpl": `{{if}}`,
	}
	writeFiles(t, dir, files)
	set, err := bindings.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var c render.Compiler
	compile := func(id string) *render.Template {
		t.Helper()
		tmpl, err := c.Compile(set.Get(id))
		if err != nil {
			t.Fatalf("compile %s: %v", id, err)
		}
		return tmpl
	}
	a := compile("a.json")
	// Once a has been compiled, b is not read again: it renders what a
	// read even after the file is gone.
	if err := os.Remove(filepath.Join(dir, "templates/t.tmpl")); err != nil {
		t.Fatal(err)
	}
	b := compile("b.json")
	if _, err := c.Compile(set.Get("c.json")); err == nil {
		t.Error("c.json (other delimiters) compiled without reading its template again")
	}
	for _, tc := range []struct {
		tmpl *render.Template
		want string
	}{
		{tmpl: a, want: "a.json <% .ID %>"},
		{tmpl: b, want: "b.json <% .ID %>"},
	} {
		in, err := render.Gather(tc.tmpl.Binding, newSnapshot(t, 1, tc.tmpl.Binding.Selectors(), nil))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tc.tmpl.Execute(context.Background(), in)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s rendered %q, %v; want %q", tc.tmpl.Binding.ID, got, err, tc.want)
		}
	}
	for _, id := range []string{"d.json", "e.json"} {
		_, err := c.Compile(set.Get(id))
		if re := renderError(t, err); re.Binding != id {
			t.Errorf("the error of %s names binding %q", id, re.Binding)
		}
	}
}

// writeFiles writes each file under dir, making its directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

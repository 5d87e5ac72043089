package render_test

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// structuredData is what TestStructuredFuncs reads: JSON and YAML values
// as operators keep them in etcd.
var structuredData = map[string]string{
	"/app/config": `{"name": "edge", "port": 80, "ratio": 0.25, "big": 1000000, "huge": 1e21, "tls": true,` +
		` "none": null, "tags": ["a", "b"], "limits": {"rps": 100, "burst": 20}, "odd key": "x", "motd": "a\nb\n"}`,
	"/app/yaml": `name: web
port: 8080
debug: false
version: "1.10"
ratio: 0.5
empty:
octal: 0o17
when: 2024-01-02
hosts:
  - 10.0.0.1
  - 10.0.0.2
motd: |
  Welcome
  to web
base: &base
  timeout: 30s
  retries: 3
api:
  <<: *base
  retries: 5
`,
	"/app/strings": `["80", "true", "yes", "on", "No", "null", "", "1:20", "0777", "~", "1e3", "a b", "- x", "#c", "é", "ends\n", "tab\there", "a: b", "12:30", "0.0.0.0:8443"]`,
	"/app/servers": `[{"host": "a", "port": 80}, {"host": "b", "port": 81, "backup": true}]`,
	"/app/lines":   "first\nsecond\n\nlast",
	"/app/dup":     "a: 1\nb: 2\na: 3\n",
	"/app/cycle":   "a: &a [1, *a]\n",
	"/app/twodocs": "a: 1\n---\nb: 2\n",
	"/app/bad":     "a: [1, 2\n",
	"/app/listkey": "? [a, b]\n: c\n",
	"/app/seq":     "- 1\n- two\n- {three: 3}\n",
}

func TestStructuredFuncs(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    string
		wantErr string
	}{
		{
			name: "toYAML of JSON: keys sorted, whole numbers as integers, null, nested, literal block",
			src:  `{{toYAML (json (getv "/app/config"))}}`,
			want: `big: 1000000
huge: 1.0e+21
limits:
  burst: 20
  rps: 100
motd: |
  a
  b
name: edge
none: null
odd key: x
port: 80
ratio: 0.25
tags:
  - a
  - b
tls: true`,
		},
		{
			name: "toYAML quotes strings that read as other types in YAML 1.1 or 1.2",
			src:  `{{toYAML (jsonArray (getv "/app/strings"))}}`,
			want: `- "80"
- "true"
- "yes"
- "on"
- "No"
- "null"
- ""
- "1:20"
- "0777"
- "~"
- "1e3"
- a b
- '- x'
- '#c'
- é
- |
  ends
- "tab\there"
- 'a: b'
- "12:30"
- 0.0.0.0:8443`,
		},
		{
			name: "toYAML of a last value that ends with a newline quotes it",
			src:  `{{toYAML (map "b" "x\n")}}`,
			want: `b: "x\n"`,
		},
		{
			name: "toYAML of a list of maps",
			src:  `{{toYAML (jsonArray (getv "/app/servers"))}}`,
			want: "- host: a\n  port: 80\n- backup: true\n  host: b\n  port: 81",
		},
		{
			name: "toYAML of scalars and empties",
			src:  `{{toYAML "x"}}|{{toYAML 5}}|{{toYAML true}}|{{toYAML (map)}}|{{toYAML (ls "/none")}}|{{toYAML (json "{\"n\":null}").n}}`,
			want: "x|5|true|{}|[]|null",
		},
		{
			name: "toYAML of gets: struct fields by name",
			src:  `{{toYAML (gets "/app/lin*")}}`,
			want: "- Key: /app/lines\n  Value: |-\n    first\n    second\n\n    last",
		},
		{
			name: "fromYAML round trip: aliases and merge keys expanded, timestamps stay strings",
			src:  `{{toYAML (fromYAML (getv "/app/yaml"))}}`,
			want: `api:
  retries: 5
  timeout: 30s
base:
  retries: 3
  timeout: 30s
debug: false
empty: null
hosts:
  - 10.0.0.1
  - 10.0.0.2
motd: |
  Welcome
  to web
name: web
octal: 15
port: 8080
ratio: 0.5
version: "1.10"
when: "2024-01-02"`,
		},
		{
			name: "fromYAML values in a template: ints add, merged keys read",
			src:  `{{$c := fromYAML (getv "/app/yaml")}}{{add $c.port 1}} {{$c.api.retries}} {{$c.api.timeout}} {{$c.version}} {{range $c.hosts}}[{{.}}]{{end}}`,
			want: "8081 5 30s 1.10 [10.0.0.1][10.0.0.2]",
		},
		{
			name: "fromYAML of a sequence",
			src:  `{{range fromYAML (getv "/app/seq")}}{{printf "%T " .}}{{end}}`,
			want: "int string map[string]interface {} ",
		},
		{name: "fromYAML of nothing is nil", src: `{{fromYAML ""}}`, want: "<no value>"},
		{
			name: "toTOML of JSON: plain keys before tables, whole numbers as integers, null left out",
			src:  `{{toTOML (json (getv "/app/config"))}}`,
			want: `big = 1000000
huge = 1e+21
motd = "a\nb\n"
name = "edge"
"odd key" = "x"
port = 80
ratio = 0.25
tags = ["a", "b"]
tls = true

[limits]
burst = 20
rps = 100`,
		},
		{
			name: "toTOML of a list of tables",
			src:  `{{toTOML (map "server" (jsonArray (getv "/app/servers")))}}`,
			want: "[[server]]\nhost = \"a\"\nport = 80\n\n[[server]]\nbackup = true\nhost = \"b\"\nport = 81",
		},
		{
			name: "toTOML of YAML",
			src:  `{{toTOML (fromYAML (getv "/app/yaml")).api}}`,
			want: "retries = 5\ntimeout = \"30s\"",
		},
		{
			name: "indent: every line, empty ones too, as Helm",
			src:  `{{indent 4 (getv "/app/lines")}}`,
			want: "    first\n    second\n    \n    last",
		},
		{
			name: "nindent starts a block on its own line",
			src:  "spec:{{toYAML (fromYAML (getv \"/app/yaml\")).api | nindent 2}}\nend",
			want: "spec:\n  retries: 5\n  timeout: 30s\nend",
		},
		{name: "indent 0", src: `{{indent 0 "a\nb"}}`, want: "a\nb"},
		{name: "fromJSON is json", src: `{{(fromJSON (getv "/app/config")).name}} {{toJSON (fromJSON "{\"b\":1,\"a\":2}")}}`, want: `edge {"a":2,"b":1}`},

		// Errors.
		{name: "fromJSON of a list", src: `{{fromJSON (getv "/app/servers")}}`, wantErr: "fromJSON: value is not a JSON object"},
		{name: "fromYAML of bad YAML", src: `{{fromYAML (getv "/app/bad")}}`, wantErr: "fromYAML: value is not YAML: line 1: did not find expected ',' or ']'"},
		{name: "fromYAML of two documents", src: `{{fromYAML (getv "/app/twodocs")}}`, wantErr: "fromYAML: value holds more than one YAML document"},
		{name: "fromYAML of a duplicate key", src: `{{fromYAML (getv "/app/dup")}}`, wantErr: `fromYAML: line 3: key "a" appears twice in a mapping`},
		{name: "fromYAML of an alias inside its anchor", src: `{{fromYAML (getv "/app/cycle")}}`, wantErr: "fromYAML: line 1: alias *a is inside the node it names"},
		{name: "fromYAML of a list as a key", src: `{{fromYAML (getv "/app/listkey")}}`, wantErr: "fromYAML: line 1: a mapping key is a list or a mapping; keys must be scalars"},
		{name: "toTOML of a list", src: `{{toTOML (ls "/app")}}`, wantErr: "toTOML: want a map, as a TOML document is a table; got a list"},
		{name: "toTOML of a list with a null", src: `{{toTOML (map "a" (jsonArray "[1, null]"))}}`, wantErr: "toTOML: cannot encode array with nil element"},
		{name: "toTOML of bytes that are not text", src: `{{toTOML (map "a" (base64Decode "/w=="))}}`, wantErr: "toTOML: a value is not UTF-8 text, and TOML has no binary type (use base64Encode)"},
		{name: "indent of a negative width", src: `{{indent -1 "a"}}`, wantErr: "indent: negative width -1"},
	}
	b := newBinding("web", "/app", true, nil)
	snap := newSnapshot(t, 3, b.Selectors(), structuredData)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderText(t, b, tt.src, snap)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("render %s: %v", tt.src, err)
				}
				if got != tt.want {
					t.Errorf("render %s\n got %q\nwant %q", tt.src, got, tt.want)
				}
				return
			}
			re := renderError(t, err)
			if re.Line != 1 || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v (line %d)\nwant %q at line 1", err, re.Line, tt.wantErr)
			}
		})
	}
}

// TestStructuredDeterministic renders the same data many times: maps
// range in random order in Go, the output must not.
func TestStructuredDeterministic(t *testing.T) {
	b := newBinding("web", "/app", true, nil)
	snap := newSnapshot(t, 3, b.Selectors(), structuredData)
	const src = `{{toYAML .Data}}{{toTOML .}}{{toYAML (fromYAML (getv "/app/yaml"))}}{{toTOML (json (getv "/app/config"))}}`
	first, err := renderText(t, b, src, snap)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if got, err := renderText(t, b, src, snap); err != nil || got != first {
			t.Fatalf("render differs: %v\n%s\n---\n%s", err, got, first)
		}
	}
}

// laughs is a YAML alias bomb: levels of lists of nine aliases to the
// level below, 9^levels strings in all from a few hundred bytes.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		p := "*l" + string(rune('0'+i-1))
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.Repeat(p+", ", 8) + p + "]\n")
	}
	return b.String()
}

// TestStructuredHostile feeds the structured-data functions values built
// to exhaust a process: each fails its binding with the limit it hit,
// promptly and without allocating more than a bounded amount.
func TestStructuredHostile(t *testing.T) {
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	tests := []struct {
		name string
		data string
		src  string
		want string
	}{
		{
			name: "billion laughs",
			data: laughs(9),
			src:  `{{len (fromYAML (getv "/app/v"))}}`,
			want: "a call to fromYAML would return more than 1048576 entries (are aliases expanding without end?)",
		},
		{
			name: "laughs within the count, written out",
			data: laughs(5),
			src:  `{{toYAML (fromYAML (getv "/app/v"))}}`,
			want: "a call to toYAML would return more than 32 MiB",
		},
		{
			name: "laughs within the count, as JSON",
			data: laughs(5),
			src:  `{{range seq 1 12}}{{$x := toJSON (fromYAML (getv "/app/v"))}}{{end}}`,
			want: "would take this render past 256 MiB of function results",
		},
		{
			name: "a million and more items",
			data: strings.Repeat("- 0\n", 1100000),
			src:  `{{len (fromYAML (getv "/app/v"))}}`,
			want: "a call to fromYAML would return more than 1048576 entries",
		},
		{
			name: "lists nested 5000 deep",
			data: deep,
			src:  `{{fromYAML (getv "/app/v")}}`,
			want: "fromYAML: line 1: nested deeper than 1000 levels",
		},
		{
			name: "lists nested 20000 deep",
			data: strings.Repeat("[", 20000),
			src:  `{{fromYAML (getv "/app/v")}}`,
			want: "fromYAML: value is not YAML: exceeded max depth of 10000",
		},
		{
			name: "JSON nested 5000 deep, to YAML",
			data: deep,
			src:  `{{toYAML (jsonArray (getv "/app/v"))}}`,
			want: "toYAML: the value nests deeper than 1000 levels",
		},
		{
			name: "tables nested 900 deep with long names, to TOML",
			data: strings.Repeat(`{"`+strings.Repeat("k", 200)+`": `, 900) + "1" + strings.Repeat("}", 900),
			src:  `{{toTOML (json (getv "/app/v"))}}`,
			want: "a call to toTOML would return more than 32 MiB",
		},
		{
			name: "indent of a wide margin",
			data: strings.Repeat("\n", 1000),
			src:  `{{indent 40000 (getv "/app/v")}}`,
			want: "a call to indent would return more than 32 MiB",
		},
		{
			name: "ten million control characters, to YAML",
			data: strings.Repeat("\x01", 10<<20),
			src:  `{{toYAML (getv "/app/v")}}`,
			want: "a call to toYAML would return more than 32 MiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinding("hostile", "/app", true, nil)
			b.RenderTimeout = time.Minute
			snap := newSnapshot(t, 1, b.Selectors(), map[string]string{"/app/v": tt.data})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			got, err := renderText(t, b, tt.src, snap)
			runtime.ReadMemStats(&after)
			if got != "" {
				t.Errorf("output of %d bytes with an error", len(got))
			}
			re := renderError(t, err)
			if re.Line != 1 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v (line %d)\nwant %q at line 1", err, re.Line, tt.want)
			}
			// Within the budget of a render, and the data: far from the
			// gigabytes an unbounded expansion takes.
			alloc := after.TotalAlloc - before.TotalAlloc
			if alloc > 1<<30 {
				t.Errorf("the render allocated %d MiB", alloc>>20)
			}
			t.Logf("allocated %d MiB", alloc>>20)
		})
	}
}

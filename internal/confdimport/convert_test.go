package confdimport

import (
	"reflect"
	"testing"
)

func TestMapKeys(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		keys   []string
		want   []string
	}{
		{name: "one key", keys: []string{"/nginx"}, want: []string{"/nginx"}},
		{name: "cleaned like confd's path.Join", keys: []string{"services/zookeeper/", "//a//b"}, want: []string{"/services/zookeeper", "/a/b"}},
		{name: "repeats dropped", keys: []string{"/a", "/b", "/a", "/b"}, want: []string{"/a", "/b"}},
		{name: "keys under another dropped, either order", keys: []string{"/db/host", "/db", "/db/port"}, want: []string{"/db"}},
		{name: "a sibling with the same stem stays", keys: []string{"/app", "/apple"}, want: []string{"/app", "/apple"}},
		{name: "root covers all", keys: []string{"/a", "/"}, want: []string{"/"}},
		{name: "prefix joined", prefix: "/myapp", keys: []string{"/subdomain", "upstream"}, want: []string{"/myapp/subdomain", "/myapp/upstream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mapKeys(tt.prefix, tt.keys); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mapKeys(%q, %q) = %q, want %q", tt.prefix, tt.keys, got, tt.want)
			}
		})
	}
}

func TestMapMode(t *testing.T) {
	tests := []struct {
		mode     string
		want     string
		needHand bool
	}{
		{mode: "", want: ""},
		{mode: "0644", want: "0644"},
		{mode: "0600", want: "0600"},
		{mode: "0o640", want: "0640"},
		{mode: "644", want: "0204", needHand: true}, // decimal to confd
		{mode: "04755", want: "0755", needHand: true},
		{mode: "rw-r--r--", want: "", needHand: true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			b := &binding{}
			var hands []string
			(&Import{}).mapMode(tt.mode, b, func(string, string, ...any) {}, func(_, f string, _ ...any) { hands = append(hands, f) })
			if b.Mode != tt.want {
				t.Errorf("mode %q: got %q, want %q", tt.mode, b.Mode, tt.want)
			}
			if (len(hands) > 0) != tt.needHand {
				t.Errorf("mode %q: needs a hand %v, want %v (%q)", tt.mode, len(hands) > 0, tt.needHand, hands)
			}
		})
	}
}

func TestMapCheck(t *testing.T) {
	tests := []struct {
		cmd   string
		hands int
	}{
		{cmd: "/usr/sbin/nginx -t -c {{.src}}"},
		{cmd: `haproxy -c -f "{{ .src }}"`},
		{cmd: "nginx -t"},
		{cmd: "test -s {{.dest}}", hands: 1},
		{cmd: "check {{.src}} {{if true}}-q{{end}}", hands: 2},
		{cmd: "check `cat {{.src}}`", hands: 1},
		{cmd: "check {{- .src}}", hands: 1},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			var hands []string
			mapCheck(tt.cmd, func(string, string, ...any) {}, func(_, f string, _ ...any) { hands = append(hands, f) })
			if len(hands) != tt.hands {
				t.Errorf("check_cmd %q: %d items need a hand, want %d: %q", tt.cmd, len(hands), tt.hands, hands)
			}
		})
	}
}

func TestScan(t *testing.T) {
	text := `{{define "srv"}}{{lookupIP .}}{{end -}}
{{range gets "/upstream/*"}}{{base .Key}}{{end}}
{{with getv (printf "/a/%s" "b")}}{{datetime.Format "2006"}}{{end}}
{{if exists "/x"}}{{template "srv" "h"}}{{end}}
`
	calls, err := scan("t.tmpl", text)
	if err != nil {
		t.Fatal(err)
	}
	want := []call{
		{Func: "lookupIP", Line: 1},
		{Func: "gets", Line: 2, Key: "/upstream/*"},
		{Func: "base", Line: 2},
		{Func: "getv", Line: 3},
		{Func: "printf", Line: 3},
		{Func: "datetime", Line: 3},
		{Func: "exists", Line: 4, Key: "/x"},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("scan:\n got %+v\nwant %+v", calls, want)
	}
	missing := missingFuncs(calls)
	if want := []call{{Func: "lookupIP", Line: 1}, {Func: "datetime", Line: 3}}; !reflect.DeepEqual(missing, want) {
		t.Errorf("missingFuncs = %+v, want %+v", missing, want)
	}
	if _, err := scan("bad.tmpl", "{{if}}"); err == nil {
		t.Error("scan of a template that does not parse: no error")
	}
}

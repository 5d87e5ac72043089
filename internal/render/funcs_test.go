package render_test

import (
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// funcData is what the binding of TestFuncs reads: /app recursively, plus
// the altkeys apple (/apple) and db (/db). /app-old and /other are in the
// snapshot but not read by the binding.
var funcData = map[string]string{
	"/app/name":               "web",
	"/app/port":               "8080",
	"/app/count":              "3",
	"/app/zero":               "0",
	"/app/debug":              "true",
	"/app/path":               "/var/www/html/index.html",
	"/app/csv":                "a,b,c",
	"/app/config":             `{"name": "edge", "port": 80, "tls": true}`,
	"/app/backends":           `["b1", "b2", "b3"]`,
	"/app/password":           "czNjcjN0", // base64 of s3cr3t
	"/app/hosts/a":            "10.0.0.9:80",
	"/app/hosts/b":            "10.0.0.2:80",
	"/app/hosts/long-name":    "10.0.0.5:80",
	"/app/upstreams/api/addr": "10.1.0.1",
	"/app/upstreams/web/addr": "10.1.0.2",
	"/app-old/x":              "stale",
	"/apple/x":                "fruit",
	"/db/primary":             "db1:5432",
	"/db/replica":             "db2:5432",
	"/db/ro":                  "db3:5432",
	"/other/secret":           "not visible",
}

func TestFuncs(t *testing.T) {
	t.Setenv("TEMPLATE_TEST_REGION", "eu-west-1")
	t.Setenv("TEMPLATE_TEST_UNSET", "")

	tests := []struct {
		name string
		src  string
		want string
		// wantErr are substrings of the error; the output is then empty.
		wantErr []string
	}{
		// Key functions.
		{name: "getv", src: `listen {{getv "/app/port"}}`, want: "listen 8080"},
		{name: "getv of an altkey", src: `{{getv "/db/primary"}}`, want: "db1:5432"},
		{name: "getv with a default, key present", src: `{{getv "/app/port" "80"}}`, want: "8080"},
		{name: "getv with a default, key missing", src: `timeout {{getv "/app/timeout" "30s"}}`, want: "timeout 30s"},
		{name: "getv with an empty default", src: `[{{getv "/app/timeout" ""}}]`, want: "[]"},
		{name: "getv of a missing key", src: `{{getv "/app/timeout"}}`, wantErr: []string{"key /app/timeout does not exist"}},
		{name: "getv of an undeclared key in the snapshot", src: `{{getv "/other/secret"}}`, wantErr: []string{"key /other/secret is not read by this binding"}},
		{name: "getv of /app-old under the /app range", src: `{{getv "/app-old/x"}}`, wantErr: []string{"key /app-old/x is not read by this binding"}},
		{name: "getv of an undeclared key with a default", src: `{{getv "/other/secret" "none"}}`, want: "none"},
		{name: "getvs sorts the values", src: `{{join (getvs "/app/hosts/*") ","}}`, want: "10.0.0.2:80,10.0.0.5:80,10.0.0.9:80"},
		{name: "getvs across the altkey", src: `{{join (getvs "/db/*") " "}}`, want: "db1:5432 db2:5432 db3:5432"},
		{name: "getvs without a match", src: `{{len (getvs "/app/nothing/*")}}`, want: "0"},
		{name: "getvs does not see undeclared keys", src: `{{len (getvs "/other/*")}}`, want: "0"},
		{name: "getvs with a bad pattern", src: `{{getvs "/app/[a"}}`, wantErr: []string{`pattern "/app/[a"`, "syntax error in pattern"}},
		{
			name: "gets is sorted by key",
			src:  `{{range gets "/app/hosts/*"}}server {{base .Key}} {{.Value}}; {{end}}`,
			want: "server a 10.0.0.9:80; server b 10.0.0.2:80; server long-name 10.0.0.5:80; ",
		},
		{name: "gets with two wildcards", src: `{{range gets "/app/upstreams/*/addr"}}{{.Value}} {{end}}`, want: "10.1.0.1 10.1.0.2 "},
		{name: "get", src: `{{with get "/app/name"}}{{.Key}}={{.Value}}{{end}}`, want: "/app/name=web"},
		{name: "get of a missing key", src: `{{get "/app/nope"}}`, wantErr: []string{"key /app/nope does not exist"}},
		{name: "ls", src: `{{join (ls "/app/hosts") " "}}`, want: "a b long-name"},
		{
			name: "ls /app does not list /apple/x or /app-old",
			src:  `{{join (ls "/app") " "}}`,
			want: "backends config count csv debug hosts name password path port upstreams zero",
		},
		{name: "ls with a trailing slash", src: `{{join (ls "/app/upstreams/") " "}}`, want: "api web"},
		{name: "ls /", src: `{{join (ls "/") " "}}`, want: "app apple db"},
		{name: "ls of a key names the key (confd)", src: `{{join (ls "/app/port") " "}}`, want: "port"},
		{name: "ls of nothing", src: `{{len (ls "/app/nothing")}} {{len (ls "/other")}}`, want: "0 0"},
		{name: "lsdir", src: `{{join (lsdir "/app") " "}}`, want: "hosts upstreams"},
		{name: "lsdir one level down", src: `{{join (lsdir "/app/upstreams") " "}}`, want: "api web"},
		{name: "lsdir of leaves", src: `{{len (lsdir "/app/hosts")}}`, want: "0"},
		{name: "lsdir / lists /apple apart from /app", src: `{{join (lsdir "/") " "}}`, want: "app apple db"},
		{name: "exists", src: `{{exists "/app/port"}} {{exists "/app/nope"}} {{exists "/other/secret"}} {{exists "/app/hosts"}}`, want: "true false false false"},

		// Strings and paths.
		{name: "base", src: `{{base (getv "/app/path")}}`, want: "index.html"},
		{name: "dir", src: `{{dir (getv "/app/path")}}`, want: "/var/www/html"},
		{name: "split", src: `{{range split (getv "/app/csv") ","}}[{{.}}]{{end}}`, want: "[a][b][c]"},
		{name: "join", src: `{{join (ls "/app/upstreams") ", "}}`, want: "api, web"},
		{name: "contains", src: `{{if contains (getv "/app/path") "www"}}www{{end}}{{if contains "web" "x"}}x{{end}}`, want: "www"},
		{name: "replace all", src: `{{replace (getv "/app/csv") "," ";" -1}}`, want: "a;b;c"},
		{name: "replace once", src: `{{replace (getv "/app/csv") "," ";" 1}}`, want: "a;b,c"},
		{name: "trimSuffix", src: `{{trimSuffix (getv "/db/primary") ":5432"}}`, want: "db1"},
		{name: "trimPrefix", src: `{{range gets "/app/hosts/*"}}{{trimPrefix .Key "/app/hosts/"}} {{end}}`, want: "a b long-name "},
		{name: "toUpper", src: `{{toUpper (getv "/app/name")}}`, want: "WEB"},
		{name: "toLower", src: `{{toLower "Edge-01.EXAMPLE.com"}}`, want: "edge-01.example.com"},

		// Decoding.
		{name: "json", src: `{{$c := json (getv "/app/config")}}{{$c.name}}:{{$c.port}} tls={{$c.tls}}`, want: "edge:80 tls=true"},
		{name: "json ranges in key order", src: `{{range $k, $v := json (getv "/app/config")}}{{$k}}={{$v}} {{end}}`, want: "name=edge port=80 tls=true "},
		{name: "json of a non-object", src: `{{json (getv "/app/backends")}}`, wantErr: []string{"json: value is not a JSON object"}},
		{name: "jsonArray", src: `{{range jsonArray (getv "/app/backends")}}server {{.}}; {{end}}`, want: "server b1; server b2; server b3; "},
		{name: "jsonArray of an object", src: `{{jsonArray (getv "/app/config")}}`, wantErr: []string{"jsonArray: value is not a JSON array"}},
		{name: "atoi", src: `{{add (atoi (getv "/app/count")) 1}}`, want: "4"},
		{name: "atoi of a word", src: `{{atoi (getv "/app/name")}}`, wantErr: []string{`strconv.Atoi: parsing "web": invalid syntax`}},
		{name: "parseBool", src: `{{if parseBool (getv "/app/debug")}}log_level debug{{end}}`, want: "log_level debug"},
		{name: "parseBool false", src: `{{parseBool "0"}}`, want: "false"},
		{name: "parseBool of a word", src: `{{parseBool (getv "/app/name")}}`, wantErr: []string{`strconv.ParseBool: parsing "web": invalid syntax`}},
		{name: "base64Encode", src: `{{base64Encode (getv "/app/name")}}`, want: "d2Vi"},
		{name: "base64Decode", src: `password {{base64Decode (getv "/app/password")}}`, want: "password s3cr3t"},
		{name: "base64Decode of bad input", src: `{{base64Decode (getv "/app/path")}}`, wantErr: []string{"base64Decode: illegal base64 data"}},

		// Numbers.
		{name: "seq", src: `{{range seq 1 (atoi (getv "/app/count"))}}worker{{.}} {{end}}`, want: "worker1 worker2 worker3 "},
		{name: "seq of one", src: `{{seq 4 4}}`, want: "[4]"},
		{name: "seq backwards is empty", src: `{{len (seq 5 1)}}`, want: "0"},
		{name: "seq at its size limit", src: `{{len (seq 1 1048576)}}`, want: "1048576"},
		{name: "seq over its size limit", src: `{{seq 0 1048576}}`, wantErr: []string{"seq: 0..1048576 has more than 1048576 numbers"}},
		{name: "seq whose length overflows", src: `{{seq -5000000000000000000 5000000000000000000}}`, wantErr: []string{"seq: -5000000000000000000..5000000000000000000 has more than"}},
		{name: "seq up to the largest int", src: `{{seq 9223372036854775806 9223372036854775807}}`, want: "[9223372036854775806 9223372036854775807]"},
		{name: "add", src: `{{add (atoi (getv "/app/port")) 1}}`, want: "8081"},
		{name: "sub", src: `{{sub 2 3}}`, want: "-1"},
		{name: "mul", src: `{{mul (atoi (getv "/app/count")) 512}}`, want: "1536"},
		{name: "div", src: `{{div 7 2}} {{div -7 2}}`, want: "3 -3"},
		{name: "div by zero", src: `{{div 100 (atoi (getv "/app/zero"))}}`, wantErr: []string{"div: division by zero"}},
		{name: "div of the smallest int by -1", src: `{{div -9223372036854775808 -1}}`, want: "-9223372036854775808"},
		{name: "mod", src: `{{mod 7 3}} {{mod -7 3}}`, want: "1 -1"},
		{name: "mod by zero", src: `{{mod 7 0}}`, wantErr: []string{"mod: division by zero"}},

		// Lists and maps.
		{name: "map", src: `{{$m := map "host" (getv "/db/primary") "weight" 10}}{{$m.host}} w={{$m.weight}}`, want: "db1:5432 w=10"},
		{name: "map with an odd count", src: `{{map "host" "a" "port"}}`, wantErr: []string{"map: want pairs of name and value"}},
		{name: "map with a non-string name", src: `{{map 1 "a"}}`, wantErr: []string{"map: name 1 is not a string"}},
		{name: "reverse strings", src: `{{join (reverse (ls "/app/hosts")) " "}}`, want: "long-name b a"},
		{name: "reverse key/values", src: `{{range reverse (gets "/db/*")}}{{.Key}} {{end}}`, want: "/db/ro /db/replica /db/primary "},
		{name: "reverse does not change its argument", src: `{{$l := ls "/db"}}{{reverse $l}} {{$l}}`, want: "[ro replica primary] [primary replica ro]"},
		{name: "reverse of a string", src: `{{reverse "abc"}}`, wantErr: []string{"reverse: want a list, got string"}},
		{name: "sortByLength", src: `{{join (sortByLength (split "ccc a bb dd" " ")) " "}}`, want: "a bb dd ccc"},
		{name: "sortKVByLength", src: `{{range sortKVByLength (gets "/db/*")}}{{.Key}} {{end}}`, want: "/db/ro /db/primary /db/replica "},
		{name: "keys", src: `{{join (keys .AltData.db) ","}}`, want: "/db/primary,/db/replica,/db/ro"},
		{name: "keys of json", src: `{{keys (json (getv "/app/config"))}}`, want: "[name port tls]"},
		{name: "keys of a list", src: `{{keys (ls "/db")}}`, wantErr: []string{"keys: want a map with string keys, got []string"}},
		{name: "toJSON", src: `{{toJSON .AltData.db}}`, want: `{"/db/primary":"db1:5432","/db/replica":"db2:5432","/db/ro":"db3:5432"}`},
		{name: "toJSON of a list", src: `{{toJSON (ls "/app/hosts")}}`, want: `["a","b","long-name"]`},
		{name: "toJSON does not escape HTML", src: `{{toJSON "<a & b>"}}`, want: `"<a & b>"`},
		{name: "toJSON of gets", src: `{{toJSON (gets "/db/r*")}}`, want: `[{"Key":"/db/replica","Value":"db2:5432"},{"Key":"/db/ro","Value":"db3:5432"}]`},
		{
			name: "toPrettyJSON",
			src:  `{{toPrettyJSON .AltData.db}}`,
			want: "{\n  \"/db/primary\": \"db1:5432\",\n  \"/db/replica\": \"db2:5432\",\n  \"/db/ro\": \"db3:5432\"\n}",
		},
		{name: "toPrettyJSON of an empty map", src: `{{toPrettyJSON (map)}}`, want: "{}"},

		// Environment.
		{name: "getenv", src: `region {{getenv "TEMPLATE_TEST_REGION"}}`, want: "region eu-west-1"},
		{name: "getenv with a default, set", src: `{{getenv "TEMPLATE_TEST_REGION" "us-east-1"}}`, want: "eu-west-1"},
		{name: "getenv with a default, empty", src: `{{getenv "TEMPLATE_TEST_UNSET" "us-east-1"}}`, want: "us-east-1"},
		{name: "getenv unset without a default", src: `[{{getenv "TEMPLATE_TEST_UNSET"}}]`, want: "[]"},
	}
	b := newBinding("web", "/app", true, map[string]string{"apple": "/apple", "db": "/db"})
	sels := append(b.Selectors(), snapshot.Selector{Key: "/other", Recursive: true})
	snap := newSnapshot(t, 10, sels, funcData)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderText(t, b, tt.src, snap)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("render %s: %v", tt.src, err)
				}
				if got != tt.want {
					t.Errorf("render %s\n got %q\nwant %q", tt.src, got, tt.want)
				}
				return
			}
			re := renderError(t, err)
			if re.Binding != "web" || re.Line != 1 {
				t.Errorf("error %+v does not name binding web, line 1", re)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestGetenvHidesSettings checks that templates cannot read reconfig's own
// settings from the environment, some of which are secrets.
func TestGetenvHidesSettings(t *testing.T) {
	const secret = "hunter2-not-for-templates"
	for _, name := range []string{"RECONFIG_PASSWORD", "RECONFIG_KEY_PASSPHRASE", "RECONFIG_USER", "RECONFIG_CFGDIR"} {
		t.Setenv(name, secret)
	}
	t.Setenv("APP_REGION", "eu-west-1")
	tests := []struct {
		name, src, env string
	}{
		{name: "the password", src: `{{getenv "RECONFIG_PASSWORD"}}`, env: "RECONFIG_PASSWORD"},
		{name: "the key passphrase, with a default", src: `{{getenv "RECONFIG_KEY_PASSPHRASE" "none"}}`, env: "RECONFIG_KEY_PASSPHRASE"},
		{name: "the user, which may hold a password", src: `user {{getenv "RECONFIG_USER"}}`, env: "RECONFIG_USER"},
		{name: "a setting that is not secret", src: `{{getenv "RECONFIG_CFGDIR"}}`, env: "RECONFIG_CFGDIR"},
		{name: "a setting that is not set", src: `{{getenv "RECONFIG_NOT_SET" "x"}}`, env: "RECONFIG_NOT_SET"},
		{name: "in lower case", src: `{{getenv "reconfig_password"}}`, env: "reconfig_password"},
		{name: "after a variable that may be read", src: `{{getenv "APP_REGION"}} {{getenv "RECONFIG_PASSWORD"}}`, env: "RECONFIG_PASSWORD"},
	}
	b := newBinding("web", "/app", true, nil)
	snap := newSnapshot(t, 1, b.Selectors(), map[string]string{"/app/a": "1"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderText(t, b, tt.src, snap)
			re := renderError(t, err)
			want := tt.env + ": variables named RECONFIG_* are reconfig's own settings, some of them secrets, and are not visible to templates"
			if re.Line != 1 || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v\nwant line 1 and %q", err, want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(got, secret) {
				t.Errorf("the setting's value shows: %q, %v", got, err)
			}
		})
	}
	got, err := renderText(t, b, `{{getenv "APP_REGION"}}`, snap)
	if err != nil || got != "eu-west-1" {
		t.Errorf("getenv of another variable = %q, %v; want eu-west-1", got, err)
	}
}

// TestFuncNames checks that every function the contract names exists.
func TestFuncNames(t *testing.T) {
	spec := []string{
		"getv", "getvs", "gets", "get", "ls", "lsdir", "exists", "base", "dir", "split", "join", "json",
		"jsonArray", "map", "contains", "replace", "trimSuffix", "toUpper", "toLower", "atoi", "seq", "add",
		"sub", "mul", "div", "mod", "base64Encode", "base64Decode", "parseBool", "reverse", "sortByLength",
		"sortKVByLength", "getenv", "keys", "toJSON", "toPrettyJSON", "trimPrefix",
		"fromJSON", "fromYAML", "toYAML", "toTOML", "indent", "nindent",
	}
	names := render.FuncNames()
	have := map[string]bool{}
	for i, n := range names {
		have[n] = true
		if i > 0 && names[i-1] >= n {
			t.Errorf("FuncNames not sorted at %q", n)
		}
	}
	for _, n := range spec {
		if !have[n] {
			t.Errorf("function %s is missing", n)
		}
	}
	if len(names) != len(spec) {
		t.Errorf("FuncNames has %d functions, the contract %d: %v", len(names), len(spec), names)
	}
}

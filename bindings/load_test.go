package bindings_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/bindings"
)

// writeFiles creates each file (path relative to root → content) with its
// parent directories.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newCfgDir returns a configuration directory holding files, plus an empty
// conf.d and the template templates/web.tmpl.
func newCfgDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"templates/web.tmpl": "{{getv \"/app\"}}\n"})
	writeFiles(t, dir, files)
	return dir
}

// loadErrors loads dir and returns its Errors, failing the test when Load
// succeeds or fails with anything else.
func loadErrors(t *testing.T, dir string) bindings.Errors {
	t.Helper()
	_, err := bindings.Load(dir)
	if err == nil {
		t.Fatalf("Load(%s) succeeded, want errors", dir)
	}
	var es bindings.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load(%s) error is %T (%v), want bindings.Errors", dir, err, err)
	}
	return es
}

func mustLoad(t *testing.T, dir string) *bindings.Set {
	t.Helper()
	set, err := bindings.Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return set
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // under the cfgdir; templates/web.tmpl exists
		want  bindings.Binding  // File and SourcePath are relative to the cfgdir here
	}{
		{
			name:  "minimal file gets the defaults",
			files: map[string]string{"conf.d/web.json": `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf"}`},
			want: bindings.Binding{
				ID: "web.json", File: "conf.d/web.json", Key: "/app", Source: "web.tmpl", SourcePath: "templates/web.tmpl",
				Target: "/etc/app.conf", LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
			},
		},
		{
			name:  "id defaults to the path relative to conf.d, subdirectory included",
			files: map[string]string{"conf.d/frontends/haproxy": `{"key": "/lb", "source": "web.tmpl", "target": "/etc/haproxy/haproxy.cfg"}`},
			want: bindings.Binding{
				ID: "frontends/haproxy", File: "conf.d/frontends/haproxy", Key: "/lb", Source: "web.tmpl", SourcePath: "templates/web.tmpl",
				Target: "/etc/haproxy/haproxy.cfg", LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
			},
		},
		{
			name: "every field set",
			files: map[string]string{
				"templates/nginx/site.conf.tmpl": "x",
				"conf.d/site.json": `{
  "id": "nginx-site",
  "key": "/services/web",
  "recursive": true,
  "source": "nginx/site.conf.tmpl",
  "target": "/etc/nginx/conf.d/../sites/site.conf",
  "pattern": "#% %#",
  "altkeys": {"db": "/services/db", "cache": "/services/cache"},
  "checkcmd": "nginx -t -c {{.src}}",
  "reloadcmd": "systemctl reload nginx",
  "mode": "0640",
  "owner": "www-data",
  "group": "33",
  "sensitive": true,
  "allow_empty": true,
  "command_timeout": "2m30s",
  "render_timeout": "500ms"
}`,
			},
			want: bindings.Binding{
				ID: "nginx-site", File: "conf.d/site.json", Key: "/services/web", Recursive: true,
				AltKeys: map[string]string{"db": "/services/db", "cache": "/services/cache"},
				Source:  "nginx/site.conf.tmpl", SourcePath: "templates/nginx/site.conf.tmpl",
				Target:    "/etc/nginx/sites/site.conf",
				LeftDelim: "#%", RightDelim: "%#",
				CheckCmd: "nginx -t -c {{.src}}", ReloadCmd: "systemctl reload nginx",
				CommandTimeout: 150 * time.Second, RenderTimeout: 500 * time.Millisecond,
				Mode: 0o640, HasMode: true, Owner: "www-data", Group: "33",
				Sensitive: true, AllowEmpty: true,
			},
		},
		{
			name:  "pattern with extra spaces and a trailing = in the left token",
			files: map[string]string{"conf.d/web.json": `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf", "pattern": "  <%=   %>  "}`},
			want: bindings.Binding{
				ID: "web.json", File: "conf.d/web.json", Key: "/app", Source: "web.tmpl", SourcePath: "templates/web.tmpl",
				Target: "/etc/app.conf", LeftDelim: "<%=", RightDelim: "%>", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
			},
		},
		{
			name:  "mode with setgid and sticky bits",
			files: map[string]string{"conf.d/web.json": `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf", "mode": "3750"}`},
			want: bindings.Binding{
				ID: "web.json", File: "conf.d/web.json", Key: "/app", Source: "web.tmpl", SourcePath: "templates/web.tmpl",
				Target: "/etc/app.conf", LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
				Mode: 0o750 | fs.ModeSetgid | fs.ModeSticky, HasMode: true,
			},
		},
		{
			name: "source through a symlink that stays inside templates/",
			files: map[string]string{
				"templates/real/site.tmpl": "x",
				"conf.d/web.json":          `{"key": "/app", "source": "link/site.tmpl", "target": "/etc/app.conf"}`,
			},
			want: bindings.Binding{
				ID: "web.json", File: "conf.d/web.json", Key: "/app", Source: "link/site.tmpl", SourcePath: "templates/link/site.tmpl",
				Target: "/etc/app.conf", LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
			},
		},
		{
			name:  "null fields count as absent and keep their defaults",
			files: map[string]string{"conf.d/web.json": `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf", "id": null, "pattern": null, "mode": null}`},
			want: bindings.Binding{
				ID: "web.json", File: "conf.d/web.json", Key: "/app", Source: "web.tmpl", SourcePath: "templates/web.tmpl",
				Target: "/etc/app.conf", LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newCfgDir(t, tt.files)
			if err := os.Symlink("real", filepath.Join(dir, "templates", "link")); err != nil {
				t.Fatal(err)
			}
			set := mustLoad(t, dir)
			if len(set.Bindings) != 1 {
				t.Fatalf("got %d bindings, want 1", len(set.Bindings))
			}
			want := tt.want
			want.File = filepath.Join(dir, want.File)
			want.SourcePath = filepath.Join(dir, want.SourcePath)
			if got := *set.Bindings[0]; !reflect.DeepEqual(got, want) {
				t.Errorf("binding\n got %+v\nwant %+v", got, want)
			}
			if set.Dir != dir || set.TemplatesDir != filepath.Join(dir, "templates") {
				t.Errorf("Dir, TemplatesDir = %s, %s", set.Dir, set.TemplatesDir)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	const valid = `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf"`
	tests := []struct {
		name  string
		file  string                            // content of conf.d/web.json
		setup func(t *testing.T, cfgdir string) // more files, if any
		// want are substrings of the error message, after the file name.
		want []string
		// notWant are substrings the message must not have.
		notWant []string
		// line and col, when not 0, are where the error must point.
		line, col int
		// n is the number of errors of the file; 0 means 1.
		n int
	}{
		// JSON syntax.
		{
			name: "missing comma on line 3",
			file: "{\n  \"key\": \"/app\"\n  \"source\": \"web.tmpl\",\n  \"target\": \"/etc/app.conf\"\n}\n",
			want: []string{"invalid JSON", "after object key:value pair"}, line: 3, col: 3,
		},
		{
			name: "trailing comma",
			file: "{\n  \"key\": \"/app\",\n  \"source\": \"web.tmpl\",\n  \"target\": \"/etc/app.conf\",\n}\n",
			want: []string{"invalid JSON", "looking for beginning of object key"}, line: 5, col: 1,
		},
		{
			name: "unclosed object",
			file: "{\n  \"key\": \"/app\",\n  \"source\": \"web.tmpl\"\n",
			want: []string{"invalid JSON: unexpected end of file"}, line: 3,
		},
		{
			name: "single quotes",
			file: "{'key': '/app'}",
			want: []string{"invalid JSON", "invalid character '\\''"}, line: 1, col: 2,
		},
		{
			name: "a second object after the first",
			file: valid + "}\n" + valid + "}\n",
			want: []string{"invalid JSON", "after the object"}, line: 2, col: 1,
		},
		{
			name: "a stray closing brace after the object",
			file: "{\n  \"key\": \"/app\",\n  \"source\": \"web.tmpl\",\n  \"target\": \"/etc/app.conf\"\n}}\n",
			want: []string{"invalid JSON", "after the object"}, line: 5, col: 2,
		},
		{
			name: "empty file",
			file: "",
			want: []string{"file is empty", "key, source and target"},
		},
		{
			name: "file of white space",
			file: " \n\t\n",
			want: []string{"file is empty"},
		},

		// Fields.
		{
			name: "unknown field is named with its position",
			file: "{\n  \"key\": \"/app\",\n  \"source\": \"web.tmpl\",\n  \"target\": \"/etc/app.conf\",\n  \"reload_cmd\": \"systemctl reload app\"\n}\n",
			want: []string{`unknown field "reload_cmd"`, "known fields:", "reloadcmd", "command_timeout, render_timeout"}, line: 5, col: 3,
		},
		{
			name: "unknown field whose name is also an earlier value",
			file: "{\n  \"id\": \"user\",\n  \"key\": \"/app\", \"source\": \"web.tmpl\", \"target\": \"/etc/app.conf\",\n  \"user\": \"www-data\"\n}\n",
			want: []string{`unknown field "user"`}, line: 4, col: 3,
		},
		{
			name: "the original's watch field is unknown",
			file: valid + `, "watch": true}`,
			want: []string{`unknown field "watch"`},
		},
		{
			name: "missing key",
			file: `{"source": "web.tmpl", "target": "/etc/app.conf"}`,
			want: []string{`"key" is required`},
		},
		{
			name: "missing source",
			file: `{"key": "/app", "target": "/etc/app.conf"}`,
			want: []string{`"source" is required`},
		},
		{
			name: "missing target",
			file: `{"key": "/app", "source": "web.tmpl"}`,
			want: []string{`"target" is required`},
		},
		{
			name: "key, source and target all missing",
			file: `{"recursive": true}`,
			want: []string{"required"}, n: 3,
		},
		{
			name: "null object",
			file: `null`,
			want: []string{"required"}, n: 3,
		},
		{
			name: "key without a leading slash",
			file: `{"key": "app/web", "source": "web.tmpl", "target": "/etc/app.conf"}`,
			want: []string{`"key" "app/web" must start with "/"`},
		},
		{
			name: "empty key",
			file: `{"key": "", "source": "web.tmpl", "target": "/etc/app.conf"}`,
			want: []string{`"key" "" must start with "/"`},
		},
		{
			name: "relative target",
			file: `{"key": "/app", "source": "web.tmpl", "target": "etc/app.conf"}`,
			want: []string{`"target" "etc/app.conf" must be an absolute path`},
		},
		{
			name: "dot-relative target",
			file: `{"key": "/app", "source": "web.tmpl", "target": "./app.conf"}`,
			want: []string{`"target" "./app.conf" must be an absolute path`},
		},
		{
			name: "empty target",
			file: `{"key": "/app", "source": "web.tmpl", "target": ""}`,
			want: []string{`"target" is empty`},
		},
		{
			name: "target naming a directory",
			file: `{"key": "/app", "source": "web.tmpl", "target": "/etc/app/"}`,
			want: []string{`"target" "/etc/app/" names a directory`},
		},
		{
			name: "target is the root",
			file: `{"key": "/app", "source": "web.tmpl", "target": "/"}`,
			want: []string{`"target" "/" names a directory`},
		},
		{
			name: "target file name longer than NAME_MAX",
			file: `{"key": "/app", "source": "web.tmpl", "target": "/etc/` + strings.Repeat("n", 251) + `.conf"}`,
			want: []string{`its file name is 256 bytes long; a file name has at most 255 bytes`},
		},
		{
			name: "target directory name longer than NAME_MAX",
			file: `{"key": "/app", "source": "web.tmpl", "target": "/etc/` + strings.Repeat("d", 256) + `/app.conf"}`,
			want: []string{`the directory name "dddd`, `is 256 bytes long`},
		},
		{
			name: "checkcmd placeholder inside backquotes",
			file: `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf", "checkcmd": "test -s ` + "`cat {{.src}}`" + `"}`,
			want: []string{`"checkcmd": {{.src}} at byte 13 is inside backquotes`},
		},
		{
			name: "checkcmd placeholder in a here-document",
			file: `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf", "checkcmd": "cat <<EOF\n{{.dest}}\nEOF"}`,
			want: []string{`"checkcmd": {{.dest}} at byte 10 is inside a here-document`},
		},
		{
			name: "binding file larger than 1 MiB",
			file: `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf", "checkcmd": "` + strings.Repeat("x", 1<<20) + `"}`,
			want: []string{`is larger than 1 MiB, the most reconfig reads here`},
		},
		{
			name: "source escapes with ..",
			file: `{"key": "/app", "source": "../conf.d/web.json", "target": "/etc/app.conf"}`,
			want: []string{`"source" "../conf.d/web.json" escapes`, "templates"}, notWant: []string{"symlink"},
		},
		{
			name: "source escapes with .. in the middle",
			file: `{"key": "/app", "source": "sub/../../secret", "target": "/etc/app.conf"}`,
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"secret": "x", "templates/sub/a": "x"})
			},
			want: []string{`"source" "sub/../../secret" escapes`}, notWant: []string{"symlink"},
		},
		{
			name: "source is absolute",
			file: `{"key": "/app", "source": "/etc/passwd", "target": "/etc/app.conf"}`,
			want: []string{`"source" "/etc/passwd" must be relative to`, "not absolute"},
		},
		{
			name: "source is a symlink inside templates/ pointing outside",
			file: `{"key": "/app", "source": "evil.tmpl", "target": "/etc/app.conf"}`,
			setup: func(t *testing.T, dir string) {
				outside := filepath.Join(t.TempDir(), "secret")
				writeFiles(t, filepath.Dir(outside), map[string]string{"secret": "s3cret"})
				if err := os.Symlink(outside, filepath.Join(dir, "templates", "evil.tmpl")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{`"source" "evil.tmpl" escapes`, "through a symlink"},
		},
		{
			name: "source under a symlinked directory pointing outside",
			file: `{"key": "/app", "source": "shared/web.tmpl", "target": "/etc/app.conf"}`,
			setup: func(t *testing.T, dir string) {
				outside := t.TempDir()
				writeFiles(t, outside, map[string]string{"web.tmpl": "x"})
				if err := os.Symlink(outside, filepath.Join(dir, "templates", "shared")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{`"source" "shared/web.tmpl" escapes`, "through a symlink"},
		},
		{
			name: "source is a dangling symlink",
			file: `{"key": "/app", "source": "old.tmpl", "target": "/etc/app.conf"}`,
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink("removed.tmpl", filepath.Join(dir, "templates", "old.tmpl")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{`"source" "old.tmpl": template`, "does not exist"},
		},
		{
			name: "source is a symlink loop",
			file: `{"key": "/app", "source": "loop.tmpl", "target": "/etc/app.conf"}`,
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink("loop.tmpl", filepath.Join(dir, "templates", "loop.tmpl")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{`"source" "loop.tmpl": `, "too many links"},
		},
		{
			name: "missing template",
			file: `{"key": "/app", "source": "nginx.tmpl", "target": "/etc/app.conf"}`,
			want: []string{`"source" "nginx.tmpl": template`, filepath.Join("templates", "nginx.tmpl") + " does not exist"},
		},
		{
			name: "source is a directory",
			file: `{"key": "/app", "source": "nginx", "target": "/etc/app.conf"}`,
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"templates/nginx/site.tmpl": "x"})
			},
			want: []string{`"source" "nginx"`, "is not a regular file"},
		},
		{
			name: "empty source",
			file: `{"key": "/app", "source": "", "target": "/etc/app.conf"}`,
			want: []string{`"source" is empty`},
		},
		{
			name: "pattern with one token",
			file: valid + `, "pattern": "{{"}`,
			want: []string{`"pattern" "{{": must be two delimiters`},
		},
		{
			name: "pattern with three tokens",
			file: valid + `, "pattern": "{{ }} %%"}`,
			want: []string{`"pattern" "{{ }} %%": must be two delimiters`},
		},
		{
			name: "pattern without space",
			file: valid + `, "pattern": "#%%#"}`,
			want: []string{`"pattern" "#%%#": must be two delimiters`},
		},
		{
			name: "empty pattern",
			file: valid + `, "pattern": ""}`,
			want: []string{`"pattern" "": must be two delimiters`},
		},
		{
			name: "pattern with identical tokens",
			file: valid + `, "pattern": "%% %%"}`,
			want: []string{`"pattern" "%% %%": the left and right delimiters must differ`},
		},
		{
			name: "symbolic mode",
			file: valid + `, "mode": "rw-r-----"}`,
			want: []string{`"mode" "rw-r-----" is not an octal file mode like "0640"`},
		},
		{
			name: "mode with a digit that is not octal",
			file: valid + `, "mode": "0680"}`,
			want: []string{`"mode" "0680" is not an octal file mode`},
		},
		{
			name: "mode too large",
			file: valid + `, "mode": "10000"}`,
			want: []string{`"mode" "10000" is not an octal file mode`},
		},
		{
			name: "empty mode",
			file: valid + `, "mode": ""}`,
			want: []string{`"mode" "" is not an octal file mode`},
		},
		{
			name: "command_timeout without unit",
			file: valid + `, "command_timeout": "60"}`,
			want: []string{`"command_timeout" "60" is not a duration`, `"30s"`},
		},
		{
			name: "command_timeout in words",
			file: valid + `, "command_timeout": "one minute"}`,
			want: []string{`"command_timeout" "one minute" is not a duration`},
		},
		{
			name: "negative command_timeout",
			file: valid + `, "command_timeout": "-5s"}`,
			want: []string{`"command_timeout" "-5s" must be positive`},
		},
		{
			name: "zero command_timeout",
			file: valid + `, "command_timeout": "0s"}`,
			want: []string{`"command_timeout" "0s" must be positive`},
		},
		{
			name: "render_timeout without unit",
			file: valid + `, "render_timeout": "10"}`,
			want: []string{`"render_timeout" "10" is not a duration`, `"30s"`},
		},
		{
			name: "render_timeout is a number",
			file: valid + `, "render_timeout": 10}`,
			want: []string{`"render_timeout" must be a string, not number`},
		},
		{
			name: "negative render_timeout",
			file: valid + `, "render_timeout": "-1s"}`,
			want: []string{`"render_timeout" "-1s" must be positive`},
		},
		{
			name: "zero render_timeout",
			file: valid + `, "render_timeout": "0s"}`,
			want: []string{`"render_timeout" "0s" must be positive`},
		},
		{
			name: "render_timeout with the wrong case",
			file: valid + `, "Render_Timeout": "1s"}`,
			want: []string{`unknown field "Render_Timeout"; field names are lowercase: "render_timeout"`},
		},
		{
			name: "altkey without a leading slash",
			file: valid + `, "altkeys": {"db": "/services/db", "cache": "services/cache"}}`,
			want: []string{`"altkeys" "cache": key "services/cache" must start with "/"`},
		},
		{
			name: "altkey with an empty name",
			file: valid + `, "altkeys": {"": "/services/db"}}`,
			want: []string{`"altkeys" has an empty name`},
		},
		{
			name: "empty id",
			file: valid + `, "id": ""}`,
			want: []string{`"id" is empty`},
		},
		{
			name: "id with a space",
			file: valid + `, "id": "web server"}`,
			want: []string{`"id" "web server" contains white space`},
		},
		{
			name: "several problems in one file are all reported",
			file: `{"key": "app", "source": "../x", "target": "x", "pattern": "{{", "mode": "x", "command_timeout": "x", "render_timeout": "x"}`,
			want: []string{`"`}, n: 7,
		},

		// Wrong JSON types.
		{
			name: "recursive is a string",
			file: "{\n  \"key\": \"/app\",\n  \"recursive\": \"yes\",\n  \"source\": \"web.tmpl\",\n  \"target\": \"/etc/app.conf\"\n}\n",
			want: []string{`"recursive" must be true or false, not string`}, line: 3,
		},
		{
			name: "key is a number",
			file: `{"key": 42, "source": "web.tmpl", "target": "/etc/app.conf"}`,
			want: []string{`"key" must be a string, not number`}, line: 1,
		},
		{
			name: "sensitive is a quoted bool",
			file: valid + `, "sensitive": "true"}`,
			want: []string{`"sensitive" must be true or false, not string`},
		},
		{
			name: "mode is a number",
			file: valid + `, "mode": 640}`,
			want: []string{`"mode" must be a string, not number`},
		},
		{
			name: "altkeys is a string",
			file: valid + `, "altkeys": "/services/db"}`,
			want: []string{`"altkeys" must be an object of name → key, not string`},
		},
		{
			name: "an altkey is a number",
			file: valid + `, "altkeys": {"db": 5}}`,
			want: []string{`"altkeys"`, "must be strings", "not number"},
		},
		{
			name: "file is an array",
			file: `[` + valid + `}]`,
			want: []string{"want a JSON object, not array"}, line: 1, col: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newCfgDir(t, map[string]string{"conf.d/web.json": tt.file})
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			file := filepath.Join(dir, "conf.d", "web.json")
			es := loadErrors(t, dir)
			n := tt.n
			if n == 0 {
				n = 1
			}
			if len(es) != n {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), n, es)
			}
			for _, e := range es {
				if e.File != file {
					t.Errorf("error names file %q, want %q", e.File, file)
				}
				if !strings.HasPrefix(e.Error(), file+":") {
					t.Errorf("message %q does not start with the file name", e.Error())
				}
			}
			msg := es.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("message %q contains %q", msg, w)
				}
			}
			if tt.line != 0 {
				if es[0].Line != tt.line {
					t.Errorf("line = %d, want %d (%v)", es[0].Line, tt.line, es[0])
				}
				if !strings.HasPrefix(es[0].Error(), file+":"+itoa(tt.line)+":") {
					t.Errorf("message %q does not start with file:line", es[0].Error())
				}
			}
			if tt.col != 0 && es[0].Col != tt.col {
				t.Errorf("column = %d, want %d (%v)", es[0].Col, tt.col, es[0])
			}
		})
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func TestLoadReportsAllErrors(t *testing.T) {
	dir := newCfgDir(t, map[string]string{
		"conf.d/a.json":        `{"key": "/a", "source": "web.tmpl", "target": "/etc/a.conf"}`,
		"conf.d/b.json":        `{"key": "/b", "source": "web.tmpl"`,
		"conf.d/c.json":        `{"key": "c", "source": "web.tmpl", "target": "/etc/c.conf"}`,
		"conf.d/sub/d.json":    `{"key": "/d", "source": "missing.tmpl", "target": "/etc/d.conf", "mode": "abc"}`,
		"conf.d/e.json":        `{"key": "/e", "source": "web.tmpl", "target": "/etc/e.conf", "bogus": 1}`,
		"conf.d/f.json":        `{"key": "/f", "source": "web.tmpl", "target": "/etc/a.conf"}`,
		"conf.d/g.json":        `{"key": "/g", "source": "web.tmpl", "target": "/etc/g.conf"}`,
		"conf.d/z-empty.json":  ``,
		"conf.d/sub/more.json": `{"key": "/m", "source": "web.tmpl", "target": "/etc/m.conf", "id": "g.json"}`,
	})
	set, err := bindings.Load(dir)
	var es bindings.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load: %v, want bindings.Errors", err)
	}
	confd := filepath.Join(dir, "conf.d")
	want := []struct{ file, msg string }{
		{"b.json", "unexpected end of file"},
		{"c.json", `"key" "c" must start with "/"`},
		{"e.json", `unknown field "bogus"`},
		{"sub/d.json", `"source" "missing.tmpl"`},
		{"sub/d.json", `"mode" "abc"`},
		{"z-empty.json", "file is empty"},
		{"f.json", "target /etc/a.conf is also written by binding \"a.json\""},
		{"sub/more.json", `id "g.json" is also used by ` + filepath.Join(confd, "g.json")},
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), es)
	}
	for i, w := range want {
		file := filepath.Join(confd, filepath.FromSlash(w.file))
		if es[i].File != file || !strings.Contains(es[i].Error(), w.msg) {
			t.Errorf("error %d = %q, want one about %s saying %q", i, es[i], file, w.msg)
		}
	}
	// One message per line, each naming its file.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("Error() has %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(want) {
		t.Errorf("Unwrap gives %d errors, want %d", n, len(want))
	}
	// The good bindings still come back, sorted by id, for callers that
	// want to show them.
	var ids []string
	for _, b := range set.Bindings {
		ids = append(ids, b.ID)
	}
	if got, wantIDs := strings.Join(ids, " "), "a.json f.json g.json g.json"; got != wantIDs {
		t.Errorf("ids = %q, want %q", got, wantIDs)
	}
}

func TestLoadDuplicates(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// file is the binding file the error is reported on; other is the
		// one it collides with.
		file, other string
		want        string
	}{
		{
			name: "same id in two files",
			files: map[string]string{
				"conf.d/a.json":     `{"id": "web", "key": "/a", "source": "web.tmpl", "target": "/etc/a.conf"}`,
				"conf.d/sub/b.json": `{"id": "web", "key": "/b", "source": "web.tmpl", "target": "/etc/b.conf"}`,
			},
			file: "sub/b.json", other: "a.json",
			want: `id "web" is also used by `,
		},
		{
			name: "explicit id equal to another file's default id",
			files: map[string]string{
				"conf.d/web":    `{"key": "/a", "source": "web.tmpl", "target": "/etc/a.conf"}`,
				"conf.d/x.json": `{"id": "web", "key": "/b", "source": "web.tmpl", "target": "/etc/b.conf"}`,
			},
			file: "x.json", other: "web",
			want: `id "web" is also used by `,
		},
		{
			name: "same target in two files",
			files: map[string]string{
				"conf.d/a.json": `{"key": "/a", "source": "web.tmpl", "target": "/etc/app.conf"}`,
				"conf.d/b.json": `{"key": "/b", "source": "web.tmpl", "target": "/etc/app.conf"}`,
			},
			file: "b.json", other: "a.json",
			want: `target /etc/app.conf is also written by binding "a.json"`,
		},
		{
			name: "same target spelled differently",
			files: map[string]string{
				"conf.d/a.json": `{"key": "/a", "source": "web.tmpl", "target": "/etc/app.conf"}`,
				"conf.d/b.json": `{"key": "/b", "source": "web.tmpl", "target": "/etc//nginx/../app.conf"}`,
			},
			file: "b.json", other: "a.json",
			want: `target /etc/app.conf is also written by binding "a.json"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newCfgDir(t, tt.files)
			es := loadErrors(t, dir)
			if len(es) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(es), es)
			}
			file := filepath.Join(dir, "conf.d", filepath.FromSlash(tt.file))
			other := filepath.Join(dir, "conf.d", filepath.FromSlash(tt.other))
			msg := es[0].Error()
			if es[0].File != file || !strings.HasPrefix(msg, file+": ") {
				t.Errorf("error %q is not about %s", msg, file)
			}
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, other) {
				t.Errorf("error %q does not say %q and name %s", msg, tt.want, other)
			}
		})
	}
}

func TestLoadSharedKeyAllowed(t *testing.T) {
	// The original forbade two bindings reading one key; reconfig allows it.
	dir := newCfgDir(t, map[string]string{
		"conf.d/a.json": `{"key": "/app", "source": "web.tmpl", "target": "/etc/a.conf"}`,
		"conf.d/b.json": `{"key": "/app", "source": "web.tmpl", "target": "/etc/b.conf", "altkeys": {"x": "/app"}}`,
	})
	if set := mustLoad(t, dir); len(set.Bindings) != 2 {
		t.Errorf("got %d bindings, want 2", len(set.Bindings))
	}
}

func TestLoadIgnoredFiles(t *testing.T) {
	const broken = `{not json`
	dir := newCfgDir(t, map[string]string{
		"conf.d/web.json":         `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf"}`,
		"conf.d/.web.json.swp":    broken,
		"conf.d/web.json~":        broken,
		"conf.d/.hidden/x.json":   broken,
		"conf.d/sub/.old.json":    broken,
		"conf.d/sub/api.json~":    broken,
		"conf.d/sub/api.json":     `{"key": "/api", "source": "web.tmpl", "target": "/etc/api.conf"}`,
		"conf.d/sub/deeper/db":    `{"key": "/db", "source": "web.tmpl", "target": "/etc/db.conf"}`,
		"templates/not-a-binding": broken,
	})
	// A symlink to a binding file is read.
	if err := os.Symlink(filepath.Join(dir, "conf.d", "sub", "api.json"), filepath.Join(dir, "conf.d", "link.json")); err != nil {
		t.Fatal(err)
	}
	_, err := bindings.Load(dir)
	var es bindings.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load: %v, want the duplicate target of link.json", err)
	}
	// link.json is read (so sub/api.json collides with it); nothing else fails.
	if len(es) != 1 || !strings.Contains(es[0].Error(), `target /etc/api.conf is also written by binding "link.json"`) {
		t.Fatalf("errors:\n%v\nwant only the target shared with link.json", es)
	}
	if err := os.Remove(filepath.Join(dir, "conf.d", "link.json")); err != nil {
		t.Fatal(err)
	}
	// Not regular files, and links to them: not binding files, never
	// opened (a FIFO would block, /dev/zero never ends).
	if err := syscall.Mkfifo(filepath.Join(dir, "conf.d", "fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "conf.d", "zero.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("fifo.json", filepath.Join(dir, "conf.d", "to-fifo.json")); err != nil {
		t.Fatal(err)
	}
	set := mustLoad(t, dir)
	var ids []string
	for _, b := range set.Bindings {
		ids = append(ids, b.ID)
	}
	if got, want := strings.Join(ids, " "), "sub/api.json sub/deeper/db web.json"; got != want {
		t.Errorf("ids = %q, want %q", got, want)
	}
	if set.Get("sub/deeper/db") == nil || set.Get("web.json~") != nil {
		t.Errorf("Get does not find the loaded ids")
	}
}

func TestLoadDirectoryErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the cfgdir
		want  string                    // the message, with DIR for the cfgdir
	}{
		{
			name:  "cfgdir does not exist",
			setup: func(t *testing.T) string { return filepath.Join(t.TempDir(), "etc", "reconfig") },
			want:  "configuration directory DIR does not exist",
		},
		{
			name: "cfgdir is a file",
			setup: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "reconfig")
				writeFiles(t, filepath.Dir(p), map[string]string{"reconfig": "x"})
				return p
			},
			want: "configuration directory DIR is not a directory",
		},
		{
			name: "conf.d is missing",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				writeFiles(t, dir, map[string]string{"templates/web.tmpl": "x"})
				return dir
			},
			want: "binding directory DIR/conf.d does not exist",
		},
		{
			name: "conf.d is a file",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				writeFiles(t, dir, map[string]string{"conf.d": "{}"})
				return dir
			},
			want: "binding directory DIR/conf.d is not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			set, err := bindings.Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded with %d bindings", len(set.Bindings))
			}
			if want := strings.ReplaceAll(tt.want, "DIR", dir); err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			var es bindings.Errors
			if errors.As(err, &es) {
				t.Errorf("a directory error is reported as binding file errors")
			}
		})
	}
}

func TestLoadEmptyConfD(t *testing.T) {
	set := mustLoad(t, newCfgDir(t, nil))
	if len(set.Bindings) != 0 {
		t.Errorf("got %d bindings from an empty conf.d", len(set.Bindings))
	}
}

func TestLoadOriginalExamples(t *testing.T) {
	dir := filepath.Join("..", "testfixtures", "cfgtest")
	set := mustLoad(t, dir)
	tmpl := func(name string) string { return filepath.Join(dir, "templates", name) }
	want := []bindings.Binding{
		{
			ID: "test1", File: filepath.Join(dir, "conf.d", "test1.json"), Key: "/test1", Recursive: true,
			Source: "test1.conf.erb", SourcePath: tmpl("test1.conf.erb"), Target: "/tmp/test1.conf",
			LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
		},
		{
			ID: "test3_altpattern", File: filepath.Join(dir, "conf.d", "test3_altpattern"), Key: "/test3",
			Source: "test3.conf.erb", SourcePath: tmpl("test3.conf.erb"), Target: "/tmp/test3.conf",
			LeftDelim: "#%", RightDelim: "%#", CheckCmd: "/tmp/1.sh", ReloadCmd: "/tmp/2.sh",
			CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
		},
		{
			ID: "test4_altkey", File: filepath.Join(dir, "conf.d", "test4.json"), Key: "/test4",
			AltKeys: map[string]string{"akey1": "/altkey1", "akey2": "/altkey2"},
			Source:  "test4.conf.erb", SourcePath: tmpl("test4.conf.erb"), Target: "/tmp/test4.conf",
			LeftDelim: "{{", RightDelim: "}}", CommandTimeout: 60 * time.Second, RenderTimeout: 10 * time.Second,
		},
	}
	if len(set.Bindings) != len(want) {
		t.Fatalf("got %d bindings, want %d", len(set.Bindings), len(want))
	}
	for i := range want {
		if got := *set.Bindings[i]; !reflect.DeepEqual(got, want[i]) {
			t.Errorf("binding %d\n got %+v\nwant %+v", i, got, want[i])
		}
	}
}

// Field names are exact: encoding/json would take "Key" for "key" and keep
// the last of two "target" fields.
func TestLoadFieldNamesExact(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"wrong case", `{"Key": "/app", "source": "t.tmpl", "target": "/tmp/x"}`, `:1:2: unknown field "Key"; field names are lowercase: "key"`},
		{"twice", "{\"key\": \"/app\",\n \"source\": \"t.tmpl\", \"target\": \"/tmp/x\",\n \"target\": \"/tmp/y\"}", `:3:2: field "target" is given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
			os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
			os.WriteFile(filepath.Join(dir, "templates", "t.tmpl"), []byte("x"), 0o644)
			os.WriteFile(filepath.Join(dir, "conf.d", "b"), []byte(tc.content), 0o644)
			_, err := bindings.Load(dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "conf.d", "b")+tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSkippedFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // "" read
	}{
		{name: "web.json", want: ""},
		{name: "web", want: ""},
		{name: "web.conf.d", want: ""},
		{name: "backup.json", want: ""},
		{name: ".web.json", want: "hidden"},
		{name: "web.json~", want: "a backup"},
		{name: "web.json.bak", want: "a backup"},
		{name: "web.json.orig", want: "a backup"},
		{name: "web.json.dpkg-old", want: "dpkg's copy of the previous version"},
		{name: "web.json.dpkg-new", want: "dpkg's copy of the packaged version"},
		{name: "web.json.dpkg-dist", want: "dpkg's copy of the packaged version"},
		{name: "web.json.rpmsave", want: "rpm's copy of the previous version"},
		{name: "web.json.rpmnew", want: "rpm's copy of the packaged version"},
		{name: "web.json.swp", want: "an editor's swap file"},
		{name: "#web.json#", want: "an editor's autosave file"},
		{name: "#", want: ""},
	} {
		if got := bindings.SkippedFile(tc.name); got != tc.want {
			t.Errorf("SkippedFile(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLoadListsSkipped(t *testing.T) {
	dir := newCfgDir(t, map[string]string{
		"conf.d/web.json":          `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf"}`,
		"conf.d/web.json.dpkg-old": `{"key": "/app", "source": "web.tmpl", "target": "/etc/app.conf"}`,
		"conf.d/sub/api.json.bak":  `{not json`,
		"conf.d/.hidden/x.json":    `{not json`,
		"templates/not-a-binding~": `{not json`,
	})
	set := mustLoad(t, dir)
	var got []string
	for _, s := range set.Skipped {
		rel, _ := filepath.Rel(dir, s.Path)
		got = append(got, rel+": "+s.Why)
	}
	want := []string{"conf.d/.hidden: hidden", "conf.d/sub/api.json.bak: a backup", "conf.d/web.json.dpkg-old: dpkg's copy of the previous version"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("skipped %q, want %q", got, want)
	}
	if len(set.Bindings) != 1 {
		t.Errorf("%d bindings, want 1", len(set.Bindings))
	}
}

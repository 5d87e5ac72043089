package command

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// parse reads a command line as Run does (reorderArgs, then urfave/cli),
// but every action is replaced by one that keeps its context: no command
// runs. It returns the context of the command the line names.
func parse(t *testing.T, args ...string) (*cli.Context, error) {
	t.Helper()
	var got *cli.Context
	keep := func(c *cli.Context) error { got = c; return nil }
	app := newApp(&runEnv{io: IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard}})
	app.Action = keep
	var replace func([]*cli.Command)
	replace = func(cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Action != nil {
				c.Action = keep
			}
			replace(c.Subcommands)
		}
	}
	replace(app.Commands)
	argv, err := reorderArgs(app, append([]string{"reconfig"}, args...))
	if err == nil {
		noteGiven(app, argv)
		err = app.Run(argv)
	}
	if err == nil && got == nil {
		t.Fatalf("%q reached no action", args)
	}
	return got, err
}

// cleanEnv unsets every variable reconfig reads, for the test.
func cleanEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "RECONFIG_") || name == "NO_COLOR" {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// defaults are the globals of a command line without options.
func defaults(change func(g *globals)) *globals {
	g := &globals{
		cfgDir:         "/etc/reconfig",
		statePath:      "/etc/reconfig/state.json",
		endpoints:      []string{"http://127.0.0.1:2379"},
		dialTimeout:    5 * time.Second,
		commandTimeout: 10 * time.Second,
		color:          "auto",
		logFormat:      "text",
	}
	if change != nil {
		change(g)
	}
	return g
}

func TestParseGlobals(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\r\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const userWarning = "the password given with --user NAME:PASSWORD is visible"
	const passphraseWarning = "the passphrase given with --key-passphrase is visible"
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    *globals
		warning string // a warning the globals carry, "" none
		wantErr string // part of the error, "" none
	}{
		{name: "defaults", args: []string{"plan"}, want: defaults(nil)},
		{name: "before the command", args: []string{"-c", "/x", "plan"},
			want: defaults(func(g *globals) { g.cfgDir, g.statePath = "/x", "/x/state.json" })},
		{name: "after the command", args: []string{"plan", "--cfgdir", "/x"},
			want: defaults(func(g *globals) { g.cfgDir, g.statePath = "/x", "/x/state.json" })},
		{name: "after a positional argument", args: []string{"apply", "p.plan", "--cfgdir=/x"},
			want: defaults(func(g *globals) { g.cfgDir, g.statePath = "/x", "/x/state.json" })},
		{name: "after a subcommand", args: []string{"kv", "get", "/k", "--endpoints", "a:1", "-p", "/pre"},
			want: defaults(func(g *globals) { g.endpoints, g.prefix = []string{"http://a:1"}, "/pre" })},
		{name: "after the command wins over before", args: []string{"-c", "/a", "plan", "-c", "/b"},
			want: defaults(func(g *globals) { g.cfgDir, g.statePath = "/b", "/b/state.json" })},
		{name: "environment", args: []string{"validate"}, env: map[string]string{"RECONFIG_CFGDIR": "/env", "RECONFIG_STATE": "/st.json", "RECONFIG_DEBUG": "true"},
			want: defaults(func(g *globals) { g.cfgDir, g.statePath, g.debug = "/env", "/st.json", true })},
		{name: "a flag before the command beats the environment", args: []string{"-c", "/flag", "validate"}, env: map[string]string{"RECONFIG_CFGDIR": "/env"},
			want: defaults(func(g *globals) { g.cfgDir, g.statePath = "/flag", "/flag/state.json" })},
		{name: "a flag after the command beats the environment", args: []string{"validate", "-c", "/flag"}, env: map[string]string{"RECONFIG_CFGDIR": "/env"},
			want: defaults(func(g *globals) { g.cfgDir, g.statePath = "/flag", "/flag/state.json" })},
		{name: "durations", args: []string{"plan", "--dial-timeout", "1s", "--command-timeout=2m"},
			want: defaults(func(g *globals) { g.dialTimeout, g.commandTimeout = time.Second, 2*time.Minute })},
		{name: "endpoints get a scheme", args: []string{"plan", "--endpoints", "a:1, https://b:2,"},
			want: defaults(func(g *globals) { g.endpoints = []string{"http://a:1", "https://b:2"} })},
		{name: "TLS files make endpoints https", args: []string{"--cacert", "ca.pem", "--endpoints", "a:1", "plan"},
			want: defaults(func(g *globals) { g.cacert, g.tlsRequested, g.endpoints = "ca.pem", true, []string{"https://a:1"} })},
		{name: "the original's host and port", args: []string{"-c", "cfg", "--host", "h", "--port", "4001", "-n"},
			want: defaults(func(g *globals) {
				g.cfgDir, g.statePath, g.endpoints = "cfg", "cfg/state.json", []string{"http://h:4001"}
			})},
		{name: "the original's port alone, with -s", args: []string{"-s", "--port", "5"},
			want: defaults(func(g *globals) { g.tlsRequested, g.endpoints = true, []string{"https://127.0.0.1:5"} })},
		{name: "the original's host alone takes its port 4001", args: []string{"--host", "h", "plan"},
			want: defaults(func(g *globals) { g.endpoints = []string{"http://h:4001"} })},
		{name: "the original's TLS spellings", args: []string{"--ssl_cafile", "ca", "--ssl_cert", "c", "--ssl_key", "k", "-n"},
			want: defaults(func(g *globals) {
				g.cacert, g.cert, g.key, g.tlsRequested = "ca", "c", "k", true
			})},
		{name: "the new spelling given first wins", args: []string{"plan", "--cacert", "new", "--ssl_cafile", "old"},
			want: defaults(func(g *globals) { g.cacert, g.tlsRequested = "new", true })},
		{name: "--no-color", args: []string{"plan", "--color", "always", "--no-color"},
			want: defaults(func(g *globals) { g.color = "never" })},
		{name: "NO_COLOR", args: []string{"plan"}, env: map[string]string{"NO_COLOR": "1"},
			want: defaults(func(g *globals) { g.color = "never" })},
		{name: "--color beats NO_COLOR", args: []string{"plan", "--color=always"}, env: map[string]string{"NO_COLOR": "1"},
			want: defaults(func(g *globals) { g.color = "always" })},
		{name: "password in --user warns", args: []string{"validate", "--user", "bob:pw"},
			want: defaults(func(g *globals) { g.user, g.password = "bob", "pw" }), warning: userWarning},
		{name: "password in RECONFIG_USER does not warn", args: []string{"validate"}, env: map[string]string{"RECONFIG_USER": "bob:pw"},
			want: defaults(func(g *globals) { g.user, g.password = "bob", "pw" })},
		{name: "RECONFIG_PASSWORD", args: []string{"validate", "--user", "bob"}, env: map[string]string{"RECONFIG_PASSWORD": "pw"},
			want: defaults(func(g *globals) { g.user, g.password = "bob", "pw" })},
		{name: "--password-file, its first line", args: []string{"validate", "--user", "bob", "--password-file", pwFile}, env: map[string]string{"RECONFIG_PASSWORD": "env"},
			want: defaults(func(g *globals) { g.user, g.password = "bob", "s3cret" })},
		{name: "--key-passphrase warns", args: []string{"plan", "--key-passphrase", "x"},
			want: defaults(func(g *globals) { g.keyPassphrase = "x" }), warning: passphraseWarning},
		{name: "RECONFIG_KEY_PASSPHRASE does not warn", args: []string{"plan"}, env: map[string]string{"RECONFIG_KEY_PASSPHRASE": "x"},
			want: defaults(func(g *globals) { g.keyPassphrase = "x" })},
		{name: "--key-passphrase-file", args: []string{"plan", "--key-passphrase-file", pwFile},
			want: defaults(func(g *globals) { g.keyPassphrase = "s3cret" })},

		// The command line wins over the environment, for options that
		// stand for the same setting too.
		{name: "--host beats RECONFIG_ENDPOINTS", args: []string{"plan", "--host", "h", "--port", "1"}, env: map[string]string{"RECONFIG_ENDPOINTS": "http://e:2"},
			want: defaults(func(g *globals) { g.endpoints = []string{"http://h:1"} })},
		{name: "--srv beats RECONFIG_ENDPOINTS", args: []string{"plan", "--srv", "_etcd._tcp.x"}, env: map[string]string{"RECONFIG_ENDPOINTS": "http://e:2"},
			want: defaults(func(g *globals) { g.srv = "_etcd._tcp.x" })},
		{name: "--endpoints beats RECONFIG_SRV", args: []string{"--endpoints", "a:1", "plan"}, env: map[string]string{"RECONFIG_SRV": "_etcd._tcp.x", "RECONFIG_DISCOVERY_SRV": "x"},
			want: defaults(func(g *globals) { g.endpoints = []string{"http://a:1"} })},
		{name: "--ssl_cafile beats RECONFIG_CACERT", args: []string{"plan", "--ssl_cafile", "old"}, env: map[string]string{"RECONFIG_CACERT": "env"},
			want: defaults(func(g *globals) { g.cacert, g.tlsRequested = "old", true })},
		{name: "--color beats RECONFIG_NO_COLOR", args: []string{"plan", "--color", "always"}, env: map[string]string{"RECONFIG_NO_COLOR": "true"},
			want: defaults(func(g *globals) { g.color = "always" })},
		{name: "--no-color beats RECONFIG_COLOR", args: []string{"plan", "--no-color"}, env: map[string]string{"RECONFIG_COLOR": "always"},
			want: defaults(func(g *globals) { g.color = "never" })},
		{name: "--password-file beats the password in RECONFIG_USER", args: []string{"validate", "--password-file", pwFile}, env: map[string]string{"RECONFIG_USER": "bob:env"},
			want: defaults(func(g *globals) { g.user, g.password = "bob", "s3cret" })},
		{name: "--user NAME:PASSWORD beats RECONFIG_PASSWORD_FILE", args: []string{"validate", "--user", "bob:pw"}, env: map[string]string{"RECONFIG_PASSWORD_FILE": pwFile},
			want: defaults(func(g *globals) { g.user, g.password = "bob", "pw" }), warning: userWarning},
		{name: "--key-passphrase beats RECONFIG_KEY_PASSPHRASE_FILE", args: []string{"plan", "--key-passphrase", "x"}, env: map[string]string{"RECONFIG_KEY_PASSPHRASE_FILE": pwFile},
			want: defaults(func(g *globals) { g.keyPassphrase = "x" }), warning: passphraseWarning},
		{name: "--key-passphrase-file beats RECONFIG_KEY_PASSPHRASE", args: []string{"plan", "--key-passphrase-file", pwFile}, env: map[string]string{"RECONFIG_KEY_PASSPHRASE": "env"},
			want: defaults(func(g *globals) { g.keyPassphrase = "s3cret" })},
		{name: "RECONFIG_ENDPOINTS and RECONFIG_SRV", args: []string{"plan"}, env: map[string]string{"RECONFIG_ENDPOINTS": "http://e:2", "RECONFIG_SRV": "_etcd._tcp.x"},
			wantErr: "RECONFIG_ENDPOINTS and RECONFIG_SRV are set, and exclude each other: set only one"},
		{name: "the original's --srv overrides --host/--port", args: []string{"--host", "h", "--srv", "_etcd._tcp.x", "--port", "1", "-n"},
			want: defaults(func(g *globals) { g.srv = "_etcd._tcp.x" })},
		{name: "--srv and --endpoints", args: []string{"plan", "--srv", "x", "--endpoints", "a:1"}, wantErr: "give either --endpoints or --srv, not both"},
		{name: "--endpoints, --port and --discovery-srv", args: []string{"--discovery-srv", "x", "--endpoints", "a:1", "--port", "1", "-n"},
			wantErr: "give only one of --endpoints, --host/--port, --discovery-srv"},
		{name: "passphrase twice", args: []string{"plan", "--key-passphrase", "x", "--key-passphrase-file", pwFile}, wantErr: "give the passphrase once"},
		{name: "password twice in the environment", args: []string{"plan"}, env: map[string]string{"RECONFIG_USER": "a:b", "RECONFIG_PASSWORD_FILE": pwFile}, wantErr: "give the password once"},

		{name: "bad --color", args: []string{"plan", "--color", "sometimes"}, wantErr: `--color "sometimes": want auto, always or never`},
		{name: "bad RECONFIG_LOG_FORMAT", args: []string{"plan"}, env: map[string]string{"RECONFIG_LOG_FORMAT": "xml"}, wantErr: `--log-format "xml": want text or json`},
		{name: "zero timeout", args: []string{"plan", "--dial-timeout", "0s"}, wantErr: "--dial-timeout and --command-timeout must be positive"},
		{name: "not a duration", args: []string{"plan", "--command-timeout", "soon"}, wantErr: `invalid value "soon" for flag -command-timeout`},
		{name: "relative prefix", args: []string{"--prefix", "prod", "plan"}, wantErr: `--prefix "prod" must start with "/"`},
		{name: "endpoints and host", args: []string{"--endpoints", "a:1", "--host", "h", "plan"}, wantErr: "give either --endpoints or --host/--port, not both"},
		{name: "port not a number", args: []string{"--port", "http", "-n"}, wantErr: `--port "http" is not a number`},
		{name: "empty endpoints", args: []string{"plan", "--endpoints", " , "}, wantErr: "--endpoints is empty"},
		{name: "password twice", args: []string{"validate", "--user", "a:b", "--password-file", pwFile}, wantErr: "give the password once"},
		{name: "missing password file", args: []string{"validate", "--password-file", filepath.Join(dir, "none")}, wantErr: "--password-file " + filepath.Join(dir, "none") + ": no such file or directory"},
		{name: "a global flag without its value", args: []string{"plan", "--cfgdir"}, wantErr: "flag needs an argument: --cfgdir"},
		{name: "unknown flag", args: []string{"plan", "--cfg", "x"}, wantErr: "flag provided but not defined: -cfg"},
		{name: "a root-only flag after the command", args: []string{"plan", "-n"}, wantErr: "flag provided but not defined: -n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := parse(t, tc.args...)
			var g *globals
			if err == nil {
				g, err = parseGlobals(c)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			warnings := g.warnings
			g.warnings = nil
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *g, *tc.want)
			}
			switch {
			case tc.warning == "" && len(warnings) > 0:
				t.Errorf("warnings %q, want none", warnings)
			case tc.warning != "" && (len(warnings) != 1 || !strings.HasPrefix(warnings[0], tc.warning)):
				t.Errorf("warnings %q, want %q", warnings, tc.warning)
			}
		})
	}
}

// The command lines of README.md and of the original reconfig reach
// their command with its flags and arguments, wherever the flags are.
func TestCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command string            // the command reached
		argv    []string          // its positional arguments
		flags   map[string]string // flag → value it must have
	}{
		{args: []string{"-c", "/etc/reconfig", "plan", "--detailed-exitcode"}, command: "plan",
			flags: map[string]string{"cfgdir": "/etc/reconfig", "detailed-exitcode": "true"}},
		{args: []string{"apply", "p.plan", "--auto-approve"}, command: "apply", argv: []string{"p.plan"},
			flags: map[string]string{"auto-approve": "true"}},
		{args: []string{"apply", "--json", "p.plan", "-c", "cfg", "--lock-timeout", "2s"}, command: "apply", argv: []string{"p.plan"},
			flags: map[string]string{"json": "true", "cfgdir": "cfg", "lock-timeout": "2s"}},
		{args: []string{"plan", "--target", "a", "--out", "x.plan", "--target", "b"}, command: "plan",
			flags: map[string]string{"target": "[a b]", "out": "x.plan"}},
		{args: []string{"watch", "--wait", "2s:10s", "--metrics-addr", "127.0.0.1:9333"}, command: "watch",
			flags: map[string]string{"wait": "2s:10s", "metrics-addr": "127.0.0.1:9333"}},
		{args: []string{"kv", "set", "/services/web/web-3", "10.0.0.13:8080", "--ttl", "30"}, command: "set",
			argv: []string{"/services/web/web-3", "10.0.0.13:8080"}, flags: map[string]string{"ttl": "30"}},
		{args: []string{"kv", "set", "--", "/k", "-5"}, command: "set", argv: []string{"/k", "-5"}},
		{args: []string{"kv", "get", "/", "-r"}, command: "get", argv: []string{"/"}, flags: map[string]string{"recursive": "true"}},
		{args: []string{"kv", "watch", "/services", "-r", "--rev", "1", "--json"}, command: "watch", argv: []string{"/services"},
			flags: map[string]string{"recursive": "true", "rev": "1", "json": "true"}},
		{args: []string{"--endpoints", "http://127.0.0.1:2379", "kv", "del", "/services/web/web-1"}, command: "del",
			argv: []string{"/services/web/web-1"}, flags: map[string]string{"endpoints": "http://127.0.0.1:2379"}},
		{args: []string{"kv", "rm", "-r", "/abc"}, command: "del", argv: []string{"/abc"}, flags: map[string]string{"recursive": "true"}},
		{args: []string{"state", "show", "haproxy", "--json", "--state", "s.json"}, command: "show", argv: []string{"haproxy"},
			flags: map[string]string{"json": "true", "state": "s.json"}},
		{args: []string{"--state", "state", "state", "list"}, command: "list", flags: map[string]string{"state": "state"}},
		{args: []string{"snapshot", "save", "prod.json", "--include-sensitive"}, command: "save", argv: []string{"prod.json"},
			flags: map[string]string{"include-sensitive": "true"}},
		{args: []string{"dev", "--data", "data.json", "-c", "cfg", "--listen", "127.0.0.1:0"}, command: "dev",
			flags: map[string]string{"data": "data.json", "cfgdir": "cfg", "listen": "127.0.0.1:0"}},
		// The original reconfig.
		{args: []string{"-c", "cfg", "--host", "127.0.0.1", "--port", "4001", "-n"}, command: "reconfig",
			flags: map[string]string{"cfgdir": "cfg", "host": "127.0.0.1", "port": "4001", "notreally": "true"}},
		{args: []string{"--cfgdir", "cfg", "-o", "-d", "-p", "/prod"}, command: "reconfig",
			flags: map[string]string{"cfgdir": "cfg", "onetime": "true", "debug": "true", "prefix": "/prod"}},
		{args: []string{"-s", "--ssl_cafile", "ca.pem", "--ssl_cert", "c.pem", "--ssl_key", "k.pem", "--ssl_passphrase", "pp", "--srv", "_etcd._tcp.example.com"}, command: "reconfig",
			flags: map[string]string{"ssl": "true", "ssl_cafile": "ca.pem", "ssl_cert": "c.pem", "ssl_key": "k.pem", "ssl_passphrase": "pp", "srv": "_etcd._tcp.example.com"}},
		{args: []string{"--version"}, command: "reconfig",
			flags: map[string]string{"version": "true"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cleanEnv(t)
			c, err := parse(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Command.Name; got != tc.command {
				t.Errorf("command %q, want %q", got, tc.command)
			}
			if got := c.Args().Slice(); !reflect.DeepEqual(got, tc.argv) && (len(got) > 0 || len(tc.argv) > 0) {
				t.Errorf("arguments %q, want %q", got, tc.argv)
			}
			for name, want := range tc.flags {
				got := fmt.Sprint(c.Value(name))
				if s := c.StringSlice(name); s != nil {
					got = fmt.Sprint(s)
				}
				if got != want {
					t.Errorf("--%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestReorderArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    string
		want    string
		wantErr string
	}{
		{name: "nothing to move", args: "-c cfg plan --out p.plan", want: "-c cfg plan --out p.plan"},
		{name: "global flags move before the command", args: "plan --out p.plan -c cfg --no-color", want: "-c cfg --no-color plan --out p.plan"},
		{name: "after the flags before the command", args: "-c a plan -c b", want: "-c a -c b plan"},
		{name: "command flags move before the arguments", args: "apply p.plan --auto-approve", want: "apply --auto-approve p.plan"},
		{name: "a flag's value moves with it", args: "kv set /k v --ttl 5 --endpoints e:1", want: "--endpoints e:1 kv set --ttl 5 /k v"},
		{name: "--name=value", args: "kv set /k v --ttl=5 --cfgdir=x", want: "--cfgdir=x kv set --ttl=5 /k v"},
		{name: "a value that looks like a command", args: "--state state state list", want: "--state state state list"},
		{name: "a value that looks like a flag", args: "plan --out -x.plan", want: "plan --out -x.plan"},
		{name: "a subcommand's flags stay with it", args: "kv get / -r", want: "kv get -r /"},
		{name: "an alias names the command", args: "kv rm /a -r", want: "kv rm -r /a"},
		{name: "-- ends the flags", args: "kv set -- /k -5", want: "kv set -- /k -5"},
		{name: "flags after -- stay", args: "kv set /k -- -c x", want: "kv set -- /k -c x"},
		{name: "a negative number is a value", args: "kv set /k -1 --ttl 5", want: "kv set --ttl 5 /k -1"},
		{name: "a negative number first", args: "kv set -1.5 /k", want: "kv set -- -1.5 /k"},
		{name: "a flag's negative value", args: "kv set /k v --ttl -1", want: "kv set --ttl -1 /k v"},
		{name: "an unknown flag stays with the command", args: "plan p --bogus", want: "plan --bogus p"},
		{name: "a root-only flag after the command stays with it", args: "plan -n", want: "plan -n"},
		{name: "no command: the original's command lines", args: "-c cfg --host h --port 1 -n", want: "-c cfg --host h --port 1 -n"},
		{name: "an unknown command", args: "bogus -c x", want: "-c x bogus"},
		{name: "stdin as an argument", args: "kv set /k - --ttl 1", want: "kv set --ttl 1 /k -"},
		{name: "completion is left alone", args: "plan -c --generate-bash-completion", want: "plan -c --generate-bash-completion"},
		{name: "a global flag without its value", args: "plan -c", wantErr: "flag needs an argument: -c"},
		{name: "a command flag without its value", args: "plan --out", want: "plan --out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp(&runEnv{})
			got, err := reorderArgs(app, append([]string{"reconfig"}, strings.Fields(tc.args)...))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := append([]string{"reconfig"}, strings.Fields(tc.want)...); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestParseWait(t *testing.T) {
	for _, tc := range []struct {
		in      string
		lo, hi  time.Duration
		wantErr string
	}{
		{in: ""},
		{in: "2s", lo: 2 * time.Second, hi: 8 * time.Second},
		{in: "500ms:5s", lo: 500 * time.Millisecond, hi: 5 * time.Second},
		{in: "1s:1s", lo: time.Second, hi: time.Second},
		{in: "0s", lo: 0, hi: 0},
		{in: "0s:1s", lo: 0, hi: time.Second},
		{in: "soon", wantErr: `--wait "soon": MIN is not a duration`},
		{in: "-1s", wantErr: `--wait "-1s": MIN is not a duration`},
		{in: ":1s", wantErr: `--wait ":1s": MIN is not a duration`},
		{in: "2s:1s", wantErr: `--wait "2s:1s": MAX must be a duration not below MIN`},
		{in: "1s:", wantErr: `--wait "1s:": MAX must be a duration not below MIN`},
		{in: "1s:later", wantErr: `--wait "1s:later": MAX must be a duration not below MIN`},
		{in: "1s:2s:3s", wantErr: `--wait "1s:2s:3s": MAX must be a duration not below MIN`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			lo, hi, err := parseWait(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lo != tc.lo || hi != tc.hi {
				t.Errorf("got %v:%v, want %v:%v", lo, hi, tc.lo, tc.hi)
			}
		})
	}
}

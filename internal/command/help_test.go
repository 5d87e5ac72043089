package command

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// runHelp runs reconfig with args and returns what it printed.
func runHelp(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"reconfig"}, args...), IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	return out.String() + errOut.String(), code
}

// commandPaths lists every command and subcommand as its words.
func commandPaths(cmds []*cli.Command, prefix []string) [][]string {
	var paths [][]string
	for _, c := range cmds {
		p := append(append([]string{}, prefix...), c.Name)
		paths = append(paths, p)
		paths = append(paths, commandPaths(c.Subcommands, p)...)
	}
	return paths
}

// Every option of every command's help names what it takes (DIR, FILE,
// DURATION), never the generic "value", and a flag without a value shows
// no placeholder at all.
func TestHelpPlaceholders(t *testing.T) {
	cleanEnv(t)
	generic := regexp.MustCompile(`(?m)^\s+--[\w-]+ value\b.*`)
	boolWithArg := regexp.MustCompile(`(?m)^\s+--(notreally|onetime)\s+\S+\s*,`)
	pages := [][]string{{}}
	pages = append(pages, commandPaths(newApp(&runEnv{}).Commands, nil)...)
	for _, p := range pages {
		out, code := runHelp(t, append(p, "--help")...)
		if p := strings.Join(p, " "); code != ExitOK {
			t.Errorf("reconfig %s --help: exit %d\n%s", p, code, out)
		}
		if m := generic.FindString(out); m != "" {
			t.Errorf("reconfig %s --help: a placeholder reads just value: %q", strings.Join(p, " "), m)
		}
		if m := boolWithArg.FindString(out); m != "" {
			t.Errorf("reconfig %s --help: a flag without a value shows a placeholder: %q", strings.Join(p, " "), m)
		}
	}
	root, _ := runHelp(t, "--help")
	for _, want := range []string{"--notreally, -n  ", "--onetime, -o  ", "--dial-timeout DURATION", "--command-timeout DURATION"} {
		if !strings.Contains(root, want) {
			t.Errorf("reconfig --help lacks %q:\n%s", want, root)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"apply", "--help"}, "--lock-timeout DURATION"},
		{[]string{"watch", "--help"}, "--resync DURATION"},
		{[]string{"watch", "--help"}, "--force "},
	} {
		if out, _ := runHelp(t, c.args...); !strings.Contains(out, c.want) {
			t.Errorf("reconfig %s lacks %q:\n%s", strings.Join(c.args, " "), c.want, out)
		}
	}
}

// `reconfig help [COMMAND...]` prints what --help prints; an unknown
// command is a usage error naming it.
func TestHelpCommand(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "root", args: nil},
		{name: "command", args: []string{"plan"}},
		{name: "subcommand", args: []string{"kv", "set"}},
		{name: "command with subcommands", args: []string{"state"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, code := runHelp(t, append([]string{"help"}, tc.args...)...)
			want, _ := runHelp(t, append(tc.args, "--help")...)
			if code != ExitOK || got != want {
				t.Errorf("reconfig help %s: exit %d\n%s\nwant exit 0 and\n%s", strings.Join(tc.args, " "), code, got, want)
			}
		})
	}
	out, code := runHelp(t, "help", "kv", "nope")
	if code != ExitError || !strings.Contains(out, `unknown command "kv nope"`) {
		t.Errorf("reconfig help kv nope: exit %d\n%s", code, out)
	}
}

package shellquote_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/shellquote"
)

// hostileNames are file names that break a command when pasted into it
// unquoted, or quoted for the wrong context.
var hostileNames = []string{
	"plain.conf",
	"a b.conf",
	"two  spaces\tand tab.conf",
	"semi;touch pwned;.conf",
	"it's.conf",
	"'; touch pwned; '.conf",
	`say "hi".conf`,
	`"; touch pwned; ".conf`,
	"$(touch pwned).conf",
	"`touch pwned`.conf",
	"${HOME}$0$1.conf",
	`back\slash\.conf`,
	`end\`,
	`\'\"`,
	"new\nline; touch pwned\n.conf",
	"glob*?[a].conf",
	"~root.conf",
	"#hash.conf",
	"$'x'.conf",
	"<<EOF.conf",
}

// Every hostile path reaches a real /bin/sh as exactly one argument (or
// exactly the text of its word), in every quoting context, and nothing
// else runs: no "pwned" file appears, no glob expands, no variable or
// command substitution happens.
func TestExpandRunsInRealShell(t *testing.T) {
	for _, tc := range []struct {
		context string
		cmd     string
		want    func(v string) string // what the command prints
	}{
		{"unquoted", `printf '%s\n' {{.src}}`, func(v string) string { return v + "\n" }},
		{"unquoted, spaces in the braces", `printf '%s\n' {{ .src }}`, func(v string) string { return v + "\n" }},
		{"unquoted, within a word", `printf '%s\n' --file={{.src}}.bak`, func(v string) string { return "--file=" + v + ".bak\n" }},
		{"double quotes", `printf '%s\n' "{{.src}}"`, func(v string) string { return v + "\n" }},
		{"double quotes, within text", `printf '%s\n' "checking {{.src}} now"`, func(v string) string { return "checking " + v + " now\n" }},
		{"single quotes", `printf '%s\n' '{{.src}}'`, func(v string) string { return v + "\n" }},
		{"single quotes, within text", `printf '%s\n' 'checking {{.src}} now'`, func(v string) string { return "checking " + v + " now\n" }},
		{"$(...) in double quotes", `printf '%s\n' "$(printf '%s.' {{.src}})"`, func(v string) string { return v + ".\n" }},
		{"double quotes in $(...) in double quotes", `printf '%s\n' "$(printf '%s.' "{{.src}}")"`, func(v string) string { return v + ".\n" }},
		{"two placeholders", `printf '%s|%s\n' {{.src}} "{{.dest}}"`, func(v string) string { return v + "|" + v + ".dest\n" }},
		{"a comment", "printf '%s\\n' ok # {{.src}}", func(string) string { return "ok\n" }},
		{"after a here-document", "cat <<EOF\n{{.other}} $HOME\nEOF\nprintf '%s\\n' {{.src}}", func(v string) string { return "{{.other}} /home/h\n" + v + "\n" }},
		{"after a quoted here-document", "cat <<-'E O'\n\tx\n\tE O\nprintf '%s\\n' '{{.src}}'", func(v string) string { return "x\n" + v + "\n" }},
	} {
		for _, name := range hostileNames {
			t.Run(tc.context+"/"+name, func(t *testing.T) {
				dir := t.TempDir()
				// A decoy that an unquoted glob would match.
				os.WriteFile(filepath.Join(dir, "glob-a.conf"), nil, 0o644)
				src := filepath.Join(dir, name)
				cmd, err := shellquote.Expand(tc.cmd, map[string]string{"src": src, "dest": src + ".dest"})
				if err != nil {
					t.Fatalf("Expand(%q): %v", tc.cmd, err)
				}
				sh := exec.Command("/bin/sh", "-c", cmd)
				sh.Dir = dir
				sh.Env = append(os.Environ(), "HOME=/home/h")
				out, err := sh.CombinedOutput()
				want := tc.want(src)
				if err != nil || string(out) != want {
					t.Fatalf("sh -c %q\nprinted %q (%v)\nwant    %q", cmd, out, err, want)
				}
				if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
					t.Fatalf("sh -c %q ran a command from the path", cmd)
				}
			})
		}
	}
}

// The copy of a file with a hostile name, by cp, reads that file: the path
// is one word that names it.
func TestExpandCopiesTheFile(t *testing.T) {
	for _, name := range hostileNames {
		for _, cmd := range []string{`cp {{.src}} out`, `cp "{{.src}}" out`, `cp '{{.src}}' out`} {
			dir := t.TempDir()
			src := filepath.Join(dir, name)
			if err := os.WriteFile(src, []byte("content of "+name), 0o644); err != nil {
				t.Fatal(err)
			}
			x, err := shellquote.Expand(cmd, map[string]string{"src": src})
			if err != nil {
				t.Fatal(err)
			}
			sh := exec.Command("/bin/sh", "-c", x)
			sh.Dir = dir
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("sh -c %q: %v\n%s", x, err, out)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "out")); string(got) != "content of "+name {
				t.Fatalf("sh -c %q copied %q", x, got)
			}
		}
	}
}

// Where no quoting holds, Expand refuses, naming the placeholder and why;
// placeholders it does not know are left alone.
func TestExpandRefuses(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"echo `cat {{.src}}`", "{{.src}} at byte 10 is inside backquotes (`...`); write $(...) instead"},
		{"echo \"`cat {{.src}}`\"", "is inside backquotes"},
		{"echo ${X:-{{.src}}}", "{{.src}} at byte 10 is inside ${...}"},
		{"echo $(( {{.src}} ))", "is inside $((...))"},
		{"echo $'{{.src}}'", "is inside $'...'"},
		{"cat <<EOF\n{{.src}}\nEOF", "{{.src}} at byte 10 is inside a here-document"},
		{"cat <<'EOF'\nx {{.src}}\nEOF\n", "is inside a here-document"},
		{"cat <<{{.src}}\nx\n", "is a here-document's delimiter"},
		{`echo \{{.src}}`, "{{.src}} at byte 6 follows a backslash"},
		{`echo "\{{.src}}"`, "follows a backslash"},
	} {
		_, err := shellquote.Expand(tc.cmd, map[string]string{"src": "/x"})
		var se *shellquote.Error
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &se) {
			t.Errorf("Expand(%q) = %v, want an error with %q", tc.cmd, err, tc.want)
		}
	}
	for _, cmd := range []string{"echo {{.other}} {{.src}}", "echo '\\{{.src}}'", "echo \\\\{{.src}}"} {
		got, err := shellquote.Expand(cmd, map[string]string{"src": "/x"})
		if err != nil || strings.Contains(got, "{{.src}}") || (strings.Contains(cmd, "other") && !strings.Contains(got, "{{.other}}")) {
			t.Errorf("Expand(%q) = %q, %v", cmd, got, err)
		}
	}
}

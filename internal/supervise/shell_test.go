package supervise_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/supervise"
)

func TestExecLine(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{in: "nginx", want: "exec nginx"},
		{in: `nginx -g 'daemon off;'`, want: `exec nginx -g 'daemon off;'`},
		{in: `  haproxy -W -db -f "/etc/haproxy/haproxy.cfg"`, want: `  exec haproxy -W -db -f "/etc/haproxy/haproxy.cfg"`},
		{in: "FOO=1 BAR='a b' app --x", want: "FOO=1 BAR='a b' exec app --x"},
		{in: "app >/var/log/app.log 2>&1", want: "exec app >/var/log/app.log 2>&1"},
		{in: ">log app", want: "exec >log app"},
		{in: "app --id $(cat /etc/id; echo x) ${HOME}", want: "exec app --id $(cat /etc/id; echo x) ${HOME}"},
		{in: `app "$(echo "a;b")" \; 'x|y' "(z)"`, want: `exec app "$(echo "a;b")" \; 'x|y' "(z)"`},
		{in: "app `date; date` $((1+(2)))", want: "exec app `date; date` $((1+(2)))"},
		{in: "exec nginx", want: "exec nginx"},
		{in: "app # a comment; with | operators", want: "exec app # a comment; with | operators"},
		{in: "a#b c", want: "exec a#b c"},
		{in: "'my prog' x", want: "exec 'my prog' x"},
		{in: "app >| out", want: "exec app >| out"},
	} {
		got, err := supervise.ExecLine(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ExecLine(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestExecLineRefused(t *testing.T) {
	for _, tc := range []struct {
		in, why string
	}{
		{in: "", why: "names no program"},
		{in: "   ", why: "names no program"},
		{in: "# only a comment", why: "names no program"},
		{in: "FOO=1", why: "names no program"},
		{in: "exec", why: "names no program"},
		{in: "setup; nginx", why: `";" at byte 5`},
		{in: "setup && nginx", why: `"&" at byte 6`},
		{in: "nginx &", why: `"&"`},
		{in: "a | b", why: `"|"`},
		{in: "a || b", why: `"|"`},
		{in: "a\nb", why: "a newline"},
		{in: "(nginx)", why: `"("`},
		{in: "if true; then nginx; fi", why: `";"`},
		{in: "while nginx", why: "compound command"},
		{in: "{ nginx", why: "compound command"},
		{in: "! nginx", why: "compound command"},
		{in: "app 'unclosed", why: "never closed"},
		{in: `app "unclosed`, why: "never closed"},
		{in: "app $(unclosed", why: "never closed"},
		{in: "app `unclosed", why: "never closed"},
	} {
		_, err := supervise.ExecLine(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ExecLine(%q): error %v, want one saying %q", tc.in, err, tc.why)
		}
	}
}

// The lines ExecLine makes run under a real /bin/sh as the program, with
// the shell's expansions: the program replaces the shell (its pid is the
// shell's), assignments reach it, redirections apply.
func TestExecLineRuns(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{in: `GREETING='hi there' sh -c 'echo "$GREETING"'`, want: "hi there"},
		{in: `sh -c 'echo $$ $PPID' 2>/dev/null`, want: "same"},
		{in: `echo "$(printf '%s;%s' a b)" x\|y`, want: "a;b x|y"},
	} {
		line, err := supervise.ExecLine(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		sh := exec.Command("/bin/sh", "-c", "echo $$; "+line)
		out, err := sh.Output()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got := strings.Split(strings.TrimSpace(string(out)), "\n")
		if tc.want == "same" {
			// The program's own pid is the shell's: the shell exec'd it.
			if pids := strings.Fields(got[1]); pids[0] != got[0] {
				t.Errorf("%q: the program's pid %s is not the shell's %s", line, pids[0], got[0])
			}
			continue
		}
		if got[1] != tc.want {
			t.Errorf("%q printed %q, want %q", line, got[1], tc.want)
		}
	}
}

package view

import (
	"fmt"
	"io"
)

// View is the output of one run of a command: results on stdout; errors,
// warnings and prompts on stderr; both in one Style. Its methods, one per
// outcome, live in a file per command (kv.go, state.go, validate.go, ...);
// where a command has --json, a New<Command> function returns its human or
// its JSON implementation.
type View struct {
	stdout, stderr io.Writer
	style          *Style
	// diffLines is how many lines of each diff are shown (0: all).
	diffLines int
}

// New returns the view writing to stdout and stderr in style s (plain when
// nil).
func New(stdout, stderr io.Writer, s *Style) *View {
	if s == nil {
		s = NewStyle(false)
	}
	return &View{stdout: stdout, stderr: stderr, style: s}
}

// LimitDiffs shows at most n lines of each target's diff (0: all), and
// counts the rest. It returns v.
func (v *View) LimitDiffs(n int) *View {
	v.diffLines = n
	return v
}

// Error prints err in reconfig's one style on stderr.
func (v *View) Error(err error) { Error(v.stderr, v.style, err) }

// Warning prints a warning line on stderr.
func (v *View) Warning(msg string) { Warning(v.stderr, v.style, "%s", msg) }

// Document prints text a command produced whole, a completion script or
// the man page, as it is.
func (v *View) Document(text string) {
	io.WriteString(v.stdout, text)
}

// PasswordPrompt asks for the password of an etcd user; PasswordRead ends
// the line the terminal did not echo.
func PasswordPrompt(w io.Writer, user string) {
	fmt.Fprintf(w, "Password for etcd user %s: ", user)
}

// PasswordRead ends the prompt's line once the password was read.
func PasswordRead(w io.Writer) { fmt.Fprintln(w) }

// flush pushes what was written to a file out at once, for output that
// another program follows as it comes (kv watch).
func flush(w io.Writer) {
	if f, ok := w.(interface{ Sync() error }); ok {
		f.Sync()
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

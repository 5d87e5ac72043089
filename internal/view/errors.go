package view

import (
	"fmt"
	"io"

	"github.com/reconfig/reconfig/internal/hint"
)

// multi is an error made of several (bindings.Errors, errors.Join).
type multi interface{ Unwrap() []error }

// Error prints err in reconfig's one style:
//
//	reconfig: error: <what, naming the file, binding or key>
//	hint: <what to do>
//
// The hint is hint.Of(err): printed when the error has one.
func Error(w io.Writer, s *Style, err error) {
	if err == nil {
		return
	}
	lines := printableLines(err.Error())
	if m, ok := err.(multi); ok && len(m.Unwrap()) > 1 {
		fmt.Fprintf(w, "%s %d problems:\n", s.Err.Sprint("reconfig: error:"), len(m.Unwrap()))
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	} else {
		fmt.Fprintf(w, "%s %s\n", s.Err.Sprint("reconfig: error:"), lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if h := hint.Of(err); h != "" {
		fmt.Fprintf(w, "%s %s\n", s.Bold.Sprint("hint:"), Printable(h))
	}
}

// Hint prints a hint line.
func Hint(w io.Writer, s *Style, format string, args ...any) {
	fmt.Fprintf(w, "%s %s\n", s.Bold.Sprint("hint:"), fmt.Sprintf(format, args...))
}

// Warning prints a warning line.
func Warning(w io.Writer, s *Style, format string, args ...any) {
	fmt.Fprintf(w, "%s %s\n", s.Warn.Sprint("reconfig: warning:"), Printable(fmt.Sprintf(format, args...)))
}

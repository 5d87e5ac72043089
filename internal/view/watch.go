package view

import (
	"fmt"
	"io"
)

// Health writes the body of the daemon's /healthz: why it is healthy or
// not, on one line.
func Health(w io.Writer, reason string) {
	fmt.Fprintln(w, reason)
}

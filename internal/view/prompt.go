package view

import (
	"fmt"
	"io"
)

// Prompt asks apply's question; the answer is typed on the same line.
func Prompt(w io.Writer) {
	fmt.Fprint(w, "\nDo you want to apply these changes?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
}

// EndPrompt ends the prompt's line after an answer that approves, or when
// none could be read.
func EndPrompt(w io.Writer) {
	fmt.Fprintln(w)
}

// Cancelled says that an answer other than "yes" cancelled apply.
func Cancelled(w io.Writer) {
	fmt.Fprintln(w, "\nApply cancelled.")
}

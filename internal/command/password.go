package command

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/reconfig/reconfig/internal/view"
)

// askPassword reads a password from the terminal on stdin without echo.
// It reports false when stdin is not a terminal.
func askPassword(stdin io.Reader, prompt io.Writer, user string) (string, bool, error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", false, nil
	}
	view.PasswordPrompt(prompt, user)
	pw, err := term.ReadPassword(int(f.Fd()))
	view.PasswordRead(prompt)
	if err != nil {
		return "", true, fmt.Errorf("read password: %w", err)
	}
	return string(pw), true, nil
}

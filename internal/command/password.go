package command

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/reconfig/reconfig/internal/view"
)

// askPassword reads a password from the terminal on stdin without echo.
// It reports false when stdin is not a terminal.
func askPassword(stdin io.Reader, prompt io.Writer, user string) (string, bool, error) {
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", false, nil
	}
	fd := f.Fd()
	var old syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&old))); e != 0 {
		return "", false, nil
	}
	noEcho := old
	noEcho.Lflag &^= syscall.ECHO
	noEcho.Lflag |= syscall.ICANON | syscall.ISIG
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(&noEcho))); e != 0 {
		return "", false, fmt.Errorf("turn off echo: %v", e)
	}
	defer syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(&old)))
	view.PasswordPrompt(prompt, user)
	line, err := bufio.NewReader(f).ReadString('\n')
	view.PasswordRead(prompt)
	if err != nil && line == "" {
		return "", true, fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), true, nil
}

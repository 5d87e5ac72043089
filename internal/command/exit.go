package command

import (
	"fmt"

	"github.com/reconfig/reconfig/internal/hint"
)

// Exit codes, defined once.
const (
	ExitOK = 0
	// ExitError is any error: bad input, etcd unreachable, a binding that
	// failed, a stale plan, a held lock.
	ExitError = 1
	// ExitChanges is `plan --detailed-exitcode` finding changes, `fleet
	// status --detailed-exitcode` finding hosts behind or held, and `fleet
	// wait` timing out before the fleet got there: not done yet, no error.
	ExitChanges = 2
	// ExitDeclined is an apply whose confirmation was declined.
	ExitDeclined = 3
)

// exitError ends a command with a code. err, when set, is printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit %d", e.code)
}

func (e *exitError) Unwrap() error { return e.err }

// exit ends the command with code without printing anything more.
func exit(code int) error { return &exitError{code: code} }

// usageError is a command line that does not parse.
type usageError struct {
	msg, cmd string
}

var _ hint.Hinter = (*usageError)(nil)

func (e *usageError) Error() string { return e.msg }

func (e *usageError) Hint() string {
	if e.cmd == "" {
		return "see reconfig --help"
	}
	return fmt.Sprintf("see reconfig %s --help", e.cmd)
}

package hint

import "errors"

// Hinter is an error that says what to do about it.
type Hinter interface {
	error
	// Hint is one line of advice, without a "hint:" prefix.
	Hint() string
}

// Error is an error with a hint added by Wrap. Its text is the wrapped
// error's; errors.Is and errors.As see through it.
type Error struct {
	err  error
	hint string
}

var _ Hinter = (*Error)(nil)

// Wrap gives err a hint. A nil err stays nil, and an empty hint adds
// nothing.
func Wrap(err error, hint string) error {
	if err == nil || hint == "" {
		return err
	}
	return &Error{err: err, hint: hint}
}

func (e *Error) Error() string { return e.err.Error() }

// Unwrap returns the error the hint was added to.
func (e *Error) Unwrap() error { return e.err }

// Hint says what to do.
func (e *Error) Hint() string { return e.hint }

// Of returns the hint of the outermost error in err's chain that has one
// (a hint added later, closer to the operator, wins), or "".
func Of(err error) string {
	var h Hinter
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

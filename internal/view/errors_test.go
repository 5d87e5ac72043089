package view

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/hint"
)

type lockedError struct{}

func (lockedError) Error() string { return "the state is locked" }
func (lockedError) Hint() string  { return "wait for it" }

var _ hint.Hinter = lockedError{}

// TestErrorHint prints errors in the one style, with the hint of the
// error wherever it is in the chain, and none when there is none.
func TestErrorHint(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "no hint", err: errors.New("boom"),
			want: "reconfig: error: boom\n"},
		{name: "wrapped", err: hint.Wrap(errors.New("boom"), "do this"),
			want: "reconfig: error: boom\nhint: do this\n"},
		{name: "deep in the chain", err: fmt.Errorf("apply: %w", hint.Wrap(errors.New("boom"), "do this")),
			want: "reconfig: error: apply: boom\nhint: do this\n"},
		{name: "a type's own", err: fmt.Errorf("apply: %w", lockedError{}),
			want: "reconfig: error: apply: the state is locked\nhint: wait for it\n"},
		{name: "several problems", err: errors.Join(errors.New("a: bad"), errors.New("b: bad")),
			want: "reconfig: error: 2 problems:\n  a: bad\n  b: bad\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			Error(&b, NewStyle(false), tt.err)
			if b.String() != tt.want {
				t.Errorf("printed\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

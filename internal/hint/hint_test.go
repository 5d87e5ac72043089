package hint_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/reconfig/reconfig/internal/hint"
)

type kindError struct{}

func (kindError) Error() string { return "locked" }
func (kindError) Hint() string  { return "wait for it" }

var _ hint.Hinter = kindError{}

func TestOf(t *testing.T) {
	base := fmt.Errorf("read x: %w", fs.ErrNotExist)
	tests := []struct {
		name     string
		err      error
		wantHint string
		wantText string
	}{
		{name: "nil", err: nil, wantHint: ""},
		{name: "none", err: base, wantHint: "", wantText: "read x: file does not exist"},
		{name: "wrapped", err: hint.Wrap(base, "create it"), wantHint: "create it", wantText: "read x: file does not exist"},
		{name: "empty hint adds nothing", err: hint.Wrap(base, ""), wantHint: "", wantText: "read x: file does not exist"},
		{name: "under a wrapper", err: fmt.Errorf("load: %w", hint.Wrap(base, "create it")), wantHint: "create it", wantText: "load: read x: file does not exist"},
		{name: "outer wins", err: hint.Wrap(hint.Wrap(base, "inner"), "outer"), wantHint: "outer", wantText: "read x: file does not exist"},
		{name: "a type's own", err: fmt.Errorf("apply: %w", kindError{}), wantHint: "wait for it", wantText: "apply: locked"},
		{name: "wrap over a type's own", err: hint.Wrap(kindError{}, "here, do this"), wantHint: "here, do this", wantText: "locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hint.Of(tt.err); got != tt.wantHint {
				t.Errorf("Of = %q, want %q", got, tt.wantHint)
			}
			if tt.err != nil && tt.err.Error() != tt.wantText {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.wantText)
			}
		})
	}
}

func TestWrapKeepsTheChain(t *testing.T) {
	if hint.Wrap(nil, "x") != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
	err := hint.Wrap(fmt.Errorf("read x: %w", fs.ErrNotExist), "create it")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is does not see through %v", err)
	}
	var k kindError
	if !errors.As(hint.Wrap(kindError{}, "x"), &k) {
		t.Error("errors.As does not see through the hint")
	}
}

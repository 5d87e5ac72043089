package plan_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/plan"
)

// TestReadFileRefusals reads files that are no usable plan: each error
// names the file and says what to do.
func TestReadFileRefusals(t *testing.T) {
	dir := t.TempDir()
	notPlan := filepath.Join(dir, "notes.json")
	os.WriteFile(notPlan, []byte(`{"hello": 1}`), 0o600)
	oldPlan := filepath.Join(dir, "old.json")
	os.WriteFile(oldPlan, []byte(`{"format_version": 99, "changes": []}`), 0o600)
	link := filepath.Join(dir, "link.json")
	os.Symlink(oldPlan, link)
	tests := []struct {
		name, path, msg, hint string
	}{
		{name: "not a plan", path: notPlan, msg: "is not a reconfig plan", hint: "make one with `reconfig plan --out FILE`"},
		{name: "another format", path: oldPlan, msg: "format version 99 is not supported", hint: "make a new plan with this reconfig"},
		{name: "a symlink", path: link, msg: "symlink", hint: "give the plan file itself"},
		{name: "missing", path: filepath.Join(dir, "none.json"), msg: "cannot read: no such file or directory", hint: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plan.ReadFile(tt.path)
			var fe *plan.FileError
			if !errors.As(err, &fe) || fe.Path != tt.path {
				t.Fatalf("err = %v, want a *plan.FileError for %s", err, tt.path)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("err = %q, want it to name the file and say %q", err, tt.msg)
			}
			if got := hint.Of(err); (tt.hint == "") != (got == "") || !strings.Contains(got, tt.hint) {
				t.Errorf("hint %q, want one containing %q", got, tt.hint)
			}
		})
	}
}

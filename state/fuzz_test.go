package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/state"
)

// FuzzLoad feeds damaged state files to Load: it never panics; a refused
// file gets an error naming it with a hint (never a silent reset to an
// empty state); an accepted one saves and loads back the same, with the
// serial one higher.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"version": 1, "lineage": "ab", "serial": 2, "bindings": {"a": {"target": "/x", "sha256": "00", "check": "ok", "reload": "none"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := state.Load(path)
		if err != nil {
			var se *state.Error
			if !errors.As(err, &se) || !strings.Contains(err.Error(), path) || hint.Of(err) == "" {
				t.Fatalf("refusal without the file's name or a hint: %v", err)
			}
			return
		}
		if !st.Exists() || st.Serial < 1 {
			t.Fatalf("accepted a state without lineage or serial: %+v", st)
		}
		serial := st.Serial
		again := filepath.Join(dir, "again.json")
		if err := st.Save(again); err != nil {
			t.Fatalf("an accepted state does not save: %v", err)
		}
		back, err := state.Load(again)
		if err != nil {
			t.Fatalf("a saved state is refused: %v", err)
		}
		if back.Serial != serial+1 || back.Lineage != st.Lineage || !reflect.DeepEqual(back.IDs(), st.IDs()) {
			t.Fatalf("save and load changed the state: %+v → %+v", st, back)
		}
	})
}

package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/reconfig/reconfig/atomicfile"
)

func TestWriteReplacesWithMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.conf")
	for _, tc := range []struct {
		data string
		mode os.FileMode
	}{{"one\n", 0o644}, {"two, longer\n", 0o600}, {"", 0o640}} {
		if err := atomicfile.Write(path, []byte(tc.data), atomicfile.Attrs{Mode: tc.mode, UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		info, _ := os.Stat(path)
		if string(got) != tc.data || info.Mode().Perm() != tc.mode {
			t.Fatalf("got %q %v, want %q %v", got, info.Mode().Perm(), tc.data, tc.mode)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(ents))
	}
}

func TestStageDiscard(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.conf")
	s, err := atomicfile.Stage(path, []byte("x"), atomicfile.Attrs{Mode: 0o644, UID: -1, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(s.Path()) != dir || filepath.Ext(s.Path()) != ".conf" {
		t.Fatalf("staged at %s: want in %s with the target's extension", s.Path(), dir)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("target visible before commit")
	}
	s.Discard()
	if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
		t.Fatal("staged file left after discard")
	}
	if err := s.Commit(); err == nil {
		t.Fatal("commit after discard succeeded")
	}
}

func TestWriteToMissingDirectoryFails(t *testing.T) {
	err := atomicfile.Write(filepath.Join(t.TempDir(), "no", "f"), []byte("x"), atomicfile.Attrs{Mode: 0o644, UID: -1, GID: -1})
	if err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

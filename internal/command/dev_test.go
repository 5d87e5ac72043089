package command

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reconfig finds reconfig-dev on PATH (the test binary has none beside
// it), and says what to install when there is none.
func TestFindDevBinary(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]os.FileMode // in the PATH directory
		wantFile string                 // "" for an error
	}{
		{name: "absent"},
		{name: "not executable", files: map[string]os.FileMode{DevBinary: 0o644}},
		{name: "on PATH", files: map[string]os.FileMode{DevBinary: 0o755}, wantFile: DevBinary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, mode := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("PATH", dir)
			got, err := findDevBinary()
			if tc.wantFile != "" {
				if err != nil || got != filepath.Join(dir, tc.wantFile) {
					t.Fatalf("findDevBinary() = %q, %v; want %s", got, err, filepath.Join(dir, tc.wantFile))
				}
				return
			}
			var h interface{ Hint() string }
			if err == nil || !errors.As(err, &h) || !strings.Contains(err.Error(), "not beside") || !strings.Contains(h.Hint(), "make build") {
				t.Fatalf("findDevBinary() = %q, %v; want an error that says where it looked and a hint to build it", got, err)
			}
		})
	}
}

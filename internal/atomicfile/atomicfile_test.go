package atomicfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/reconfig/reconfig/internal/atomicfile"
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

// A target whose name leaves no room for the staging prefix is staged
// under a shortened name that keeps its extension, and RemoveStale
// recognises that name — and only that target's.
func TestStageLongName(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{232, 233, 240, 250, 255} {
		base := strings.Repeat("é", (n-5)/2) + strings.Repeat("x", (n-5)%2) + ".conf"
		path := filepath.Join(dir, base)
		s, err := atomicfile.Stage(path, []byte("x"), atomicfile.Attrs{Mode: 0o644, UID: -1, GID: -1})
		if err != nil {
			t.Fatalf("%d-byte name: %v", n, err)
		}
		name := filepath.Base(s.Path())
		if len(name) > atomicfile.NameMax || !strings.HasSuffix(name, ".conf") || !strings.HasPrefix(name, ".reconfig-") || !utf8.ValidString(name) {
			t.Fatalf("%d-byte name staged as %q (%d bytes)", n, name, len(name))
		}
		// A sibling with the same long prefix: its staged file is not
		// this target's.
		other := filepath.Join(dir, strings.Repeat("é", (n-5)/2)+strings.Repeat("x", (n-5)%2)+".cong")
		o, err := atomicfile.Stage(other, []byte("y"), atomicfile.Attrs{Mode: 0o644, UID: -1, GID: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.RemoveStale(path); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
			t.Fatalf("%d-byte name: RemoveStale left %s", n, name)
		}
		if _, err := os.Stat(o.Path()); err != nil {
			t.Fatalf("%d-byte name: RemoveStale removed the staged file of another target: %v", n, err)
		}
		o.Discard()
	}
}

// TestWithoutPath drops the path wrapper of real failures, wherever it is
// in the chain, and leaves other errors alone.
func TestWithoutPath(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	_, openErr := os.Open(missing)
	renameErr := os.Rename(missing, filepath.Join(dir, "other"))
	plain := errors.New("plain")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{name: "path error", err: openErr, want: "no such file or directory"},
		{name: "link error", err: renameErr, want: "no such file or directory"},
		{name: "wrapped path error", err: fmt.Errorf("load: %w", openErr), want: "no such file or directory"},
		{name: "other", err: plain, want: "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := atomicfile.WithoutPath(tc.err)
			if got.Error() != tc.want {
				t.Errorf("WithoutPath(%v) = %q, want %q", tc.err, got, tc.want)
			}
			if strings.Contains(got.Error(), missing) {
				t.Errorf("WithoutPath(%v) still names the path", tc.err)
			}
		})
	}
	if atomicfile.WithoutPath(nil) != nil {
		t.Error("WithoutPath(nil) is not nil")
	}
}

// An edit in place that keeps the size and puts the modification time
// back (os.Chtimes, touch -r, cp -p onto the same inode) is still a
// change: the inode's change time, which no user can set, moved.
func TestChangedSeesEditKeepingSizeAndMtime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.conf")
	if err := os.WriteFile(path, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cur, err := atomicfile.ReadCurrent(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := atomicfile.Changed(path, cur); err != nil || changed {
		t.Fatalf("unchanged file: changed %v, %v", changed, err)
	}
	before, _ := os.Stat(path)
	afterChangeTime(t, path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("two\n"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(path, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("the edit did not keep size and mtime: %d %v, was %d %v", after.Size(), after.ModTime(), before.Size(), before.ModTime())
	}
	if changed, err := atomicfile.Changed(path, cur); err != nil || !changed {
		t.Fatalf("file edited in place with its mtime put back: changed %v, %v; want true", changed, err)
	}
	if atomicfile.StampAt(path) == atomicfile.StampOf(before) {
		t.Fatal("StampAt of the edited file equals its stamp before the edit")
	}
}

// afterChangeTime returns once a change made now gets a later change time
// than path has: kernels before multigrain timestamps give inodes the
// clock's coarse tick, which a fast test could still be in.
func afterChangeTime(t *testing.T, path string) {
	t.Helper()
	ctime := func(p string) int64 {
		c, err := atomicfile.ChangeTime(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	was := ctime(path)
	probe := filepath.Join(filepath.Dir(path), "probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(probe)
	for mode := os.FileMode(0o600); ctime(probe) <= was; mode ^= 0o040 {
		if err := os.Chmod(probe, mode); err != nil {
			t.Fatal(err)
		}
	}
}

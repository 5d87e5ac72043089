package atomicfile_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/atomicfile"
)

// Read refuses, at once, anything but a regular file of at most the cap,
// and says what the file is; a symlink is followed only when asked, and
// what it leads to is held to the same rules.
func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, make func(p string) error) string {
		p := filepath.Join(dir, name)
		if err := make(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	regular := mk("regular", func(p string) error { return os.WriteFile(p, []byte("0123456789"), 0o644) })
	fifo := mk("fifo", func(p string) error { return syscall.Mkfifo(p, 0o644) })
	sock := mk("socket", func(p string) error {
		l, err := net.Listen("unix", p)
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return err
	})
	linkRegular := mk("link-regular", func(p string) error { return os.Symlink(regular, p) })
	linkZero := mk("link-zero", func(p string) error { return os.Symlink("/dev/zero", p) })
	linkFifo := mk("link-fifo", func(p string) error { return os.Symlink(fifo, p) })
	dangling := mk("dangling", func(p string) error { return os.Symlink(filepath.Join(dir, "nothing"), p) })

	for _, tc := range []struct {
		name   string
		path   string
		max    int64
		follow bool
		want   string // "" reads "0123456789"
	}{
		{"regular", regular, 10, false, ""},
		{"regular at the cap", regular, 10, false, ""},
		{"regular over the cap", regular, 9, false, regular + " is larger than 9 bytes, the most reconfig reads here"},
		{"fifo", fifo, 1 << 20, false, fifo + " is a FIFO (named pipe), not a regular file"},
		{"fifo followed", fifo, 1 << 20, true, fifo + " is a FIFO (named pipe), not a regular file"},
		{"socket", sock, 1 << 20, false, sock + " is a socket, not a regular file"},
		{"directory", dir, 1 << 20, false, dir + " is a directory, not a regular file"},
		{"device", "/dev/null", 1 << 20, false, "/dev/null is a character device, not a regular file"},
		{"link to a regular file", linkRegular, 1 << 20, false, linkRegular + " is a symlink"},
		{"link to a regular file, followed", linkRegular, 1 << 20, true, ""},
		{"link to /dev/zero", linkZero, 1 << 20, false, linkZero + " is a symlink"},
		{"link to /dev/zero, followed", linkZero, 1 << 20, true, linkZero + " is a character device, not a regular file"},
		{"link to a fifo, followed", linkFifo, 1 << 20, true, linkFifo + " is a FIFO (named pipe), not a regular file"},
		{"dangling link", dangling, 1 << 20, false, dangling + " is a symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			data, info, err := atomicfile.Read(tc.path, atomicfile.ReadOptions{Max: tc.max, FollowSymlink: tc.follow})
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("Read took %s", d)
			}
			if tc.want == "" {
				if err != nil || string(data) != "0123456789" || !info.Mode().IsRegular() {
					t.Fatalf("Read = %q, %v, %v; want the content", data, info, err)
				}
				return
			}
			var re *atomicfile.RefusedError
			if err == nil || err.Error() != tc.want || !errors.As(err, &re) {
				t.Fatalf("Read error %v, want %q as a *RefusedError", err, tc.want)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		_, _, err := atomicfile.Read(filepath.Join(dir, "nothing"), atomicfile.ReadOptions{Max: 10})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Read of a missing file: %v, want fs.ErrNotExist", err)
		}
	})
}

// The cap holds whatever the stat says: /proc files claim a size of 0 and
// hold more; Read never reads more than the cap and one byte.
func TestReadCapIgnoresStatSize(t *testing.T) {
	const path = "/proc/self/maps"
	info, err := os.Stat(path)
	if err != nil || info.Size() != 0 {
		t.Skipf("%s does not claim a size of 0 here (%v)", path, err)
	}
	_, _, err = atomicfile.Read(path, atomicfile.ReadOptions{Max: 16})
	if err == nil || !strings.Contains(err.Error(), "is larger than 16 bytes") {
		t.Fatalf("Read of %s with a 16-byte cap: %v", path, err)
	}
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: 1 << 20})
	if err != nil || len(data) == 0 {
		t.Fatalf("Read of %s: %d bytes, %v", path, len(data), err)
	}
}

// ReadCurrent keeps its messages and tells the link count of a target.
func TestReadCurrent(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "t.conf")
	if err := os.WriteFile(target, []byte("x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	cur, err := atomicfile.ReadCurrent(target, 1<<20)
	if err != nil || string(cur.Data) != "x\n" || cur.Attrs.Mode != 0o640 || cur.Links != 1 {
		t.Fatalf("ReadCurrent = %+v, %v", cur, err)
	}
	if err := os.Link(target, filepath.Join(dir, "other")); err != nil {
		t.Fatal(err)
	}
	if cur, err = atomicfile.ReadCurrent(target, 1<<20); err != nil || cur.Links != 2 {
		t.Fatalf("ReadCurrent of a target with two links = %+v, %v", cur, err)
	}
	if cur, err = atomicfile.ReadCurrent(filepath.Join(dir, "none"), 1<<20); cur != nil || err != nil {
		t.Fatalf("ReadCurrent of a missing target = %+v, %v; want nil, nil", cur, err)
	}
	link := filepath.Join(dir, "link.conf")
	os.Symlink("/dev/zero", link)
	_, err = atomicfile.ReadCurrent(link, 1<<20)
	var re *atomicfile.RefusedError
	if err == nil || !strings.HasPrefix(err.Error(), "target "+link+" is a symlink; reconfig replaces files, not links") || !errors.As(err, &re) {
		t.Fatalf("ReadCurrent of a symlink: %v", err)
	}
	fifo := filepath.Join(dir, "fifo.conf")
	syscall.Mkfifo(fifo, 0o644)
	if _, err = atomicfile.ReadCurrent(fifo, 1<<20); err == nil || err.Error() != "target "+fifo+" is a FIFO (named pipe), not a regular file" {
		t.Fatalf("ReadCurrent of a FIFO: %v", err)
	}
}

// OpenRegular creates a missing file, and refuses a symlink, dangling or
// not, without touching what it points to.
func TestOpenRegularCreateRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o644)
	for name, to := range map[string]string{"link": victim, "dangling": filepath.Join(dir, "new-victim")} {
		p := filepath.Join(dir, name)
		os.Symlink(to, p)
		f, _, err := atomicfile.OpenRegular(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err == nil {
			f.Close()
			t.Fatalf("%s: opened", name)
		}
		if err.Error() != p+" is a symlink" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("victim = %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "new-victim")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a dangling link's target was created")
	}
	f, info, err := atomicfile.OpenRegular(filepath.Join(dir, "fresh"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil || !info.Mode().IsRegular() {
		t.Fatalf("OpenRegular creating a file: %v", err)
	}
	f.Close()
}

// Some kernel files are regular to fstat but block their readers:
// /proc/kmsg until the kernel logs a line. Read refuses one at once
// instead of waiting (before: plan and apply with such a target, orphan or
// state hung for good, apply holding the state lock). Reading /proc/kmsg
// needs root (CAP_SYSLOG); lines it returns are consumed, as they were by
// the hanging read.
func TestReadRefusesBlockingKernelFile(t *testing.T) {
	const path = "/proc/kmsg"
	if os.Geteuid() != 0 {
		t.Skip("reading /proc/kmsg needs root")
	}
	if info, err := os.Lstat(path); err != nil || !info.Mode().IsRegular() {
		t.Skipf("%s is not here as a regular file (%v)", path, err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: 1 << 20})
		done <- err
	}()
	select {
	case err := <-done:
		var re *atomicfile.RefusedError
		switch {
		case errors.Is(err, fs.ErrPermission):
			t.Skipf("%s: %v", path, err)
		case !errors.As(err, &re) || !strings.Contains(err.Error(), path+" blocks when read"):
			t.Fatalf("Read of %s: %v; want a *RefusedError saying it blocks", path, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Read of %s did not return within 20s", path)
	}
}

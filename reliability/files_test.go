package reliability

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Files that are not what they seem: reconfig reads targets, orphans, the
// state, its lock, saved plans and snapshots that someone else may have
// replaced. Each is opened without following a final symlink and without
// blocking, must be a regular file, and is read up to a size cap.

// hostileKinds are the things planted where reconfig expects a regular
// file, with the words reconfig must use for each.
var hostileKinds = []struct {
	name, says string
}{
	{"fifo", "is a FIFO (named pipe), not a regular file"},
	{"devzero-link", "is a symlink"},
	{"secret-link", "is a symlink"},
	{"socket", "is a socket, not a regular file"},
	{"directory", "is a directory, not a regular file"},
	{"device", "is a character device, not a regular file"},
}

// secretText is what a root-only file holds; no output may show it.
const secretText = "TOP-SECRET-ba6f1c0de"

// plant puts a thing of the kind at path. It returns false when the kind
// cannot be made here (a device node needs root).
func plant(t *testing.T, kind, path string) bool {
	t.Helper()
	var err error
	switch kind {
	case "fifo":
		err = syscall.Mkfifo(path, 0o644)
	case "devzero-link":
		err = os.Symlink("/dev/zero", path)
	case "secret-link":
		secret := filepath.Join(t.TempDir(), "shadow")
		if err := os.WriteFile(secret, []byte(secretText+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err = os.Symlink(secret, path)
	case "socket":
		var l net.Listener
		l, err = net.Listen("unix", path)
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
	case "directory":
		err = os.Mkdir(path, 0o755)
	case "device":
		if os.Getuid() != 0 {
			return false
		}
		err = syscall.Mknod(path, syscall.S_IFCHR|0o666, 1<<8|5) // 1:5 is /dev/zero
	default:
		t.Fatalf("unknown kind %s", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// runGuarded runs reconfig within 20 seconds and 2 GiB of address space
// (prlimit --as), so that a read that never ends — a FIFO with no writer,
// /dev/zero — fails the test quickly instead of hanging it or eating the
// machine's memory.
func (f *fixture) runGuarded(args ...string) result {
	f.t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		f.t.Fatalf("prlimit (util-linux) is needed to bound the memory of reconfig: %v", err)
	}
	cmd := f.command(args...)
	cmd.Args = append([]string{prlimit, "--as=2147483648", "--", cmd.Path}, cmd.Args[1:]...)
	cmd.Path = prlimit
	return runCmdWithin(f.t, cmd, 20*time.Second)
}

// lstatMode is the type bits of what is at path, not following a link.
func lstatMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Type()
}

// An orphan (a state record whose binding was removed) whose target has
// been replaced by a FIFO, a symlink (to /dev/zero, to a root-only file),
// a socket, a directory or a device: plan lists it with what it is, and
// apply --prune fails it (exit 1) naming what it is — no hang, no memory
// blow-up, the secret never printed (text or --json), and nothing at the
// path removed or followed.
func TestOrphanTargetNotARegularFile(t *testing.T) {
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/k", "v")
	for _, kind := range hostileKinds {
		t.Run(kind.name, func(t *testing.T) {
			f := newFixture(t, srv.ClientURL)
			f.write("templates/t.tmpl", "{{getv \"/k\"}}\n")
			f.binding("keep", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/keep.conf"})
			f.binding("gone", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/gone.conf"})
			f.mustApply()
			os.Remove(filepath.Join(f.dir, "conf.d", "gone"))
			target := f.target("gone.conf")
			os.Remove(target)
			if !plant(t, kind.name, target) {
				t.Skip("making a device node needs root")
			}
			mode := lstatMode(t, target)
			says := target + " " + kind.says

			r := f.runGuarded("plan")
			if r.code != 0 || !strings.Contains(r.stdout, "gone  "+target+": its binding was removed") || !strings.Contains(r.stdout, says) {
				t.Fatalf("plan with the orphan's target replaced: want exit 0 and the orphan listed with %q\n%s", says, r)
			}
			r2 := f.runGuarded("apply", "--auto-approve", "--prune")
			if r2.code != 1 || !strings.Contains(r2.stdout, says) || !strings.Contains(r2.stdout, "remove it by hand") {
				t.Fatalf("apply --prune: want exit 1 and the orphan failed with %q\n%s", says, r2)
			}
			r3 := f.runGuarded("apply", "--auto-approve", "--prune", "--json")
			var doc struct {
				Bindings []struct {
					ID, Action, Reason string
				}
			}
			if err := json.Unmarshal([]byte(r3.stdout), &doc); err != nil || r3.code != 1 {
				t.Fatalf("apply --prune --json: want exit 1 and a JSON document (%v)\n%s", err, r3)
			}
			found := false
			for _, b := range doc.Bindings {
				if b.ID == "gone" {
					found = b.Action == "fail" && strings.Contains(b.Reason, says)
				}
			}
			if !found {
				t.Fatalf("apply --prune --json: binding gone is not failed with %q\n%s", says, r3)
			}
			for _, out := range []result{r, r2, r3} {
				if strings.Contains(out.stdout+out.stderr, secretText) {
					t.Fatalf("the content of a root-only file behind the orphan's path was printed:\n%s", out)
				}
			}
			if got := lstatMode(t, target); got != mode {
				t.Fatalf("the thing at the orphan's path changed from %v to %v", mode, got)
			}
			st, err := state.Load(f.statePath())
			if err != nil || st.Bindings["gone"] == nil {
				t.Fatalf("the orphan's record must stay until its path is cleared (%v)", err)
			}
		})
	}
}

// reconfig's own files replaced by something else: the state file, a
// saved plan, a snapshot file and a target as a FIFO, a symlink (to
// /dev/zero, to a root-only file), a socket, a directory or a device, and
// each as a regular file larger than its cap. Every command finishes at
// once with exit 1 and an error that names the file and what it is; the
// thing planted is left as it was.
func TestOwnFilesNotRegular(t *testing.T) {
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/k", "v")
	kinds := append(hostileKinds, struct{ name, says string }{"huge", "is larger than "})
	files := []struct {
		name string
		path func(f *fixture) string
		args func(f *fixture, path string) [][]string
		says string // the start of the message, before the path
		max  int64  // the cap
	}{
		{"state", func(f *fixture) string { return f.statePath() },
			func(*fixture, string) [][]string {
				return [][]string{{"plan"}, {"apply", "--auto-approve"}, {"state", "list"}}
			},
			"state file ", 64 << 20},
		{"plan", func(f *fixture) string { return filepath.Join(f.dir, "saved.plan") },
			func(_ *fixture, p string) [][]string { return [][]string{{"apply", p}} },
			"plan file ", 512 << 20},
		{"snapshot", func(f *fixture) string { return filepath.Join(f.dir, "snap.json") },
			func(_ *fixture, p string) [][]string { return [][]string{{"plan", "--snapshot", p}} },
			"snapshot file ", 512 << 20},
		{"target", func(f *fixture) string { return f.target("t.conf") },
			func(*fixture, string) [][]string { return [][]string{{"plan"}, {"apply", "--auto-approve"}} },
			"target ", 32 << 20},
	}
	for _, file := range files {
		for _, kind := range kinds {
			t.Run(file.name+"/"+kind.name, func(t *testing.T) {
				f := newFixture(t, srv.ClientURL)
				f.write("templates/t.tmpl", "{{getv \"/k\"}}\n")
				f.binding("t", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/t.conf"})
				path := file.path(f)
				if kind.name == "huge" {
					// Sparse: larger than the cap without using the disk.
					f.write(path, "")
					if err := os.Truncate(path, file.max+1); err != nil {
						t.Fatal(err)
					}
				} else if !plant(t, kind.name, path) {
					t.Skip("making a device node needs root")
				}
				mode := lstatMode(t, path)
				says := file.says + path + " " + kind.says
				for _, args := range file.args(f, path) {
					r := f.runGuarded(args...)
					if r.code != 1 || !strings.Contains(r.stdout+r.stderr, says) {
						t.Fatalf("%s: want exit 1 and %q\n%s", strings.Join(args, " "), says, r)
					}
					if strings.Contains(r.stdout+r.stderr, secretText) {
						t.Fatalf("%s printed the content of a root-only file:\n%s", strings.Join(args, " "), r)
					}
				}
				if got := lstatMode(t, path); got != mode {
					t.Fatalf("%s changed from %v to %v", path, mode, got)
				}
			})
		}
	}
}

// The state lock in a directory others can write: state.json.lock planted
// as a symlink to a victim file, as a hard link to it, as a FIFO. apply and
// state unlock refuse it with an error naming the lock file, exit 1, and
// the victim is byte for byte and inode for inode what it was — root never
// truncates or writes through a planted lock.
func TestLockFileNotRegular(t *testing.T) {
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/k", "v")
	for _, tc := range []struct {
		name, says string
		plant      func(victim, lock string) error
	}{
		{"symlink", "is a symlink", func(v, l string) error { return os.Symlink(v, l) }},
		{"hardlink", "has 2 hard links", func(v, l string) error { return os.Link(v, l) }},
		{"fifo", "is a FIFO (named pipe), not a regular file", func(_, l string) error { return syscall.Mkfifo(l, 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, srv.ClientURL)
			f.write("templates/t.tmpl", "{{getv \"/k\"}}\n")
			f.binding("t", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/t.conf"})
			victim := f.write(filepath.Join(t.TempDir(), "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
			before := identify(t, victim)
			lock := state.LockPath(f.statePath())
			if err := tc.plant(victim, lock); err != nil {
				t.Fatal(err)
			}
			says := "lock file " + lock + " " + tc.says
			for _, args := range [][]string{{"apply", "--auto-approve"}, {"state", "unlock"}} {
				r := f.runGuarded(args...)
				if r.code != 1 || !strings.Contains(r.stderr, says) {
					t.Fatalf("%s with a planted lock: want exit 1 and %q\n%s", strings.Join(args, " "), says, r)
				}
			}
			if got := readFile(t, victim); got != "root:x:0:0:root:/root:/bin/sh\n" || identify(t, victim) != before {
				t.Fatalf("the victim behind the lock changed: %q", got)
			}
			if _, err := os.Lstat(lock); err != nil {
				t.Fatalf("the planted lock was removed: %v", err)
			}
			if _, err := os.Stat(f.target("t.conf")); err == nil {
				t.Fatal("apply wrote a target without holding a lock")
			}
			if data, err := os.ReadFile(f.statePath()); err == nil && !bytes.Contains(data, []byte("lineage")) {
				t.Fatal("the state file was written")
			}
		})
	}
}

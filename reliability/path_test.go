package reliability

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// A target that is a symlink — to a file, to nothing, to a directory — is
// refused: plan fails the binding, apply writes nothing and exits 1, and
// the link and what it points to stay as they were.
func TestSymlinkTargetRefused(t *testing.T) {
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/k", "new")
	f := newFixture(t, srv.ClientURL)
	f.write("templates/t.tmpl", `{{getv "/k"}}`)
	elsewhere := t.TempDir()
	precious := f.write(elsewhere+"/precious.conf", "precious\n")
	links := map[string]string{
		"to-file.conf":    precious,
		"dangling.conf":   elsewhere + "/nothing-here",
		"to-dir.conf":     elsewhere,
		"relative.conf":   "../" + filepath.Base(f.out) + "/../",
		"to-itself.conf":  f.out + "/to-itself.conf",
		"to-sibling.conf": "real.conf",
	}
	f.write(f.target("real.conf"), "real\n")
	for name, to := range links {
		if err := os.Symlink(to, f.target(name)); err != nil {
			t.Fatal(err)
		}
		f.binding(strings.TrimSuffix(name, ".conf"), map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/" + name})
	}
	for _, cmd := range [][]string{{"plan"}, {"apply", "--auto-approve"}} {
		r := f.run(cmd...)
		if r.code != 1 {
			t.Fatalf("%s with symlink targets: %s", cmd[0], r)
		}
		for name := range links {
			if !strings.Contains(r.stdout, f.target(name)+" is a symlink; reconfig replaces files, not links") {
				t.Fatalf("%s does not say that %s is a symlink: %s", cmd[0], name, r)
			}
		}
	}
	for name, to := range links {
		if got, err := os.Readlink(f.target(name)); err != nil || got != to {
			t.Fatalf("%s: the link now points to %q (%v), want %q", name, got, err, to)
		}
	}
	if readFile(t, precious) != "precious\n" || readFile(t, f.target("real.conf")) != "real\n" {
		t.Fatal("a file behind a link was written")
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 1 {
		t.Fatalf("files appeared where a link points: %v", ents)
	}
}

// A source that escapes templates/ — "..", an absolute path, a symlink out
// — is refused by validate and apply, naming the binding file; nothing is
// written.
func TestSourceEscapeRefused(t *testing.T) {
	srv := etcdtest.Start(t)
	f := newFixture(t, srv.ClientURL)
	outside := f.write(t.TempDir()+"/outside.tmpl", "secret {{.ID}}")
	if err := os.Symlink(outside, f.dir+"/templates/link.tmpl"); err != nil {
		t.Fatal(err)
	}
	f.write(f.dir+"/sibling.tmpl", "secret")
	cases := map[string]string{"dotdot": "../sibling.tmpl", "absolute": outside, "link": "link.tmpl", "deep": "a/../../sibling.tmpl"}
	for id, src := range cases {
		f.binding(id, map[string]any{"key": "/k", "source": src, "target": "$OUT/" + id + ".conf", "allow_empty": true})
	}
	for _, cmd := range [][]string{{"validate"}, {"apply", "--auto-approve"}} {
		r := f.run(cmd...)
		if r.code != 1 {
			t.Fatalf("%s: %s", cmd[0], r)
		}
		for id := range cases {
			if !strings.Contains(r.stderr, filepath.Join(f.dir, "conf.d", id)+`: "source" `) {
				t.Fatalf("%s does not name conf.d/%s: %s", cmd[0], id, r)
			}
		}
		if !strings.Contains(r.stderr, "escapes") || !strings.Contains(r.stderr, "must be relative") {
			t.Fatalf("%s: %s", cmd[0], r)
		}
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
		t.Fatalf("files written: %v", ents)
	}
}

// reconfig as an unprivileged user (uid/gid 65534 when the tests run as
// root, whom permissions do not stop) against a target directory it may not write: a clear
// error naming the target, exit 1, the old content kept, no staged file.
func TestTargetDirectoryNotWritable(t *testing.T) {
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/k", "new")
	root := t.TempDir()
	f := newFixture(t, srv.ClientURL)
	f.write("templates/t.tmpl", "{{getv \"/k\"}}\n")
	f.binding("b", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/b.conf"})
	f.write(f.target("b.conf"), "old\n")
	os.Chmod(f.target("b.conf"), 0o644)
	// The state goes where the user may write; everything else is
	// readable by it, and the test binary is copied where it may run it.
	stateDir := filepath.Join(root, "state")
	os.Mkdir(stateDir, 0o755)
	os.Chown(stateDir, 65534, 65534)
	exe := copyExecutable(t, filepath.Join(root, "reconfig"))
	for _, d := range []string{filepath.Dir(f.dir), f.dir, f.out, root} {
		for p := d; p != "/"; p = filepath.Dir(p) {
			if info, err := os.Stat(p); err == nil {
				os.Chmod(p, info.Mode().Perm()|0o055)
			}
		}
	}
	cmd := f.command("apply", "--auto-approve", "--state", stateDir+"/state.json")
	cmd.Path, cmd.Args[0] = exe, exe
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else {
		// Already unprivileged: a directory without write permission.
		os.Chmod(f.out, 0o555)
		t.Cleanup(func() { os.Chmod(f.out, 0o755) })
	}
	r := runCmd(t, cmd)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "stage "+f.target("b.conf")+": permission denied") {
		t.Fatalf("apply into a directory it may not write: %s", r)
	}
	if got := readFile(t, f.target("b.conf")); got != "old\n" {
		t.Fatalf("b.conf = %q, want the old content", got)
	}
	if s := strays(t, f.out); len(s) > 0 {
		t.Fatalf("staged files left: %v", s)
	}
}

func copyExecutable(t *testing.T, dst string) string {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A full disk, as a file size limit (RLIMIT_FSIZE, set with prlimit) on
// the reconfig process: the write of a 64 KiB target fails with a clear
// error (Go ignores SIGXFSZ, so the write returns EFBIG), exit 1, the old
// content kept, no staged file left; with the limit gone the next apply
// converges.
func TestDiskFull(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed to limit the file size: %v", err)
	}
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	big := strings.Repeat("x", 64<<10)
	etcdtest.PutEventually(t, c, "/k", big)
	f := newFixture(t, srv.ClientURL)
	f.write("templates/t.tmpl", "{{getv \"/k\"}}\n")
	f.binding("b", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/b.conf"})
	f.write(f.target("b.conf"), "old\n")
	cmd := f.command("apply", "--auto-approve")
	cmd.Args = append([]string{prlimit, "--fsize=16384", "--", cmd.Path}, cmd.Args[1:]...)
	cmd.Path = prlimit
	r := runCmd(t, cmd)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "stage "+f.target("b.conf")+": file too large") {
		t.Fatalf("apply past the file size limit: %s", r)
	}
	if got := readFile(t, f.target("b.conf")); got != "old\n" {
		t.Fatalf("b.conf = %.40q, want the old content", got)
	}
	if s := strays(t, f.out); len(s) > 0 {
		t.Fatalf("staged files left: %v", s)
	}
	f.mustApply()
	if got := readFile(t, f.target("b.conf")); got != big+"\n" {
		t.Fatalf("b.conf did not converge once the disk had room")
	}
}

// An orphan reconfig cannot read (permissions) is never pruned: apply
// --prune cannot tell it from a file someone else put there, so it fails
// that orphan, naming it, and leaves it.
func TestUnreadableOrphanNotPruned(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run reconfig as another user")
	}
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/k", "v")
	root := t.TempDir()
	f := newFixture(t, srv.ClientURL)
	f.write("templates/t.tmpl", "{{getv \"/k\"}}\n")
	f.binding("b", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/b.conf"})
	exe := copyExecutable(t, filepath.Join(root, "reconfig"))
	for _, d := range []string{filepath.Dir(f.dir), f.dir, f.out, root} {
		for p := d; p != "/"; p = filepath.Dir(p) {
			if info, err := os.Stat(p); err == nil {
				os.Chmod(p, info.Mode().Perm()|0o055)
			}
		}
	}
	os.Chown(f.dir, 65534, 65534)
	os.Chown(f.out, 65534, 65534)
	as := func(args ...string) result {
		cmd := f.command(args...)
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return runCmd(t, cmd)
	}
	if r := as("apply", "--auto-approve"); r.code != 0 {
		t.Fatal(r)
	}
	// The binding goes; its target becomes unreadable to reconfig's user.
	os.Remove(filepath.Join(f.dir, "conf.d", "b"))
	os.Chown(f.target("b.conf"), 0, 0)
	os.Chmod(f.target("b.conf"), 0o600)
	r := as("apply", "--auto-approve", "--prune")
	if r.code != 1 || !strings.Contains(r.stdout, "cannot be read") || !strings.Contains(r.stdout, "remove it by hand") {
		t.Fatalf("prune of an unreadable orphan: %s", r)
	}
	if _, err := os.Stat(f.target("b.conf")); err != nil {
		t.Fatalf("the unreadable orphan was deleted: %v", err)
	}
}

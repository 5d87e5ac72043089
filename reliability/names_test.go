package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Target names near NAME_MAX (255 bytes). A 250-byte name is applied
// although ".reconfig-<random>.<name>" would not fit: the staged file gets
// a shortened name that keeps the extension (the check sees ".conf"). An
// apply killed while its check runs leaves that shortened staged file
// behind, and the next apply sweeps it. A 256-byte name, which no file
// system takes, is refused by validate.
func TestLongTargetName(t *testing.T) {
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/k", "one")
	f := newFixture(t, srv.ClientURL)
	f.write("templates/t.tmpl", "{{getv \"/k\"}}\n")
	name := strings.Repeat("n", 245) + ".conf"
	block := filepath.Join(f.marks, "block")
	if err := syscall.Mkfifo(block, 0o644); err != nil {
		t.Fatal(err)
	}
	// With $MARKS/hang the check announces itself and blocks on a FIFO
	// until the test writes to it; otherwise it passes only a staged file
	// with the target's extension.
	f.binding("long", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/" + name,
		"checkcmd": "if [ -e $MARKS/hang ]; then : > $MARKS/started; read x < $MARKS/block; exit 1; fi; case {{.src}} in */.reconfig-*.conf) ;; *) echo bad staged name {{.src}}; exit 1;; esac"})

	r := f.run("validate")
	if r.code != 0 {
		t.Fatalf("validate of a 250-byte target name: %s", r)
	}
	f.mustApply()
	if got := readFile(t, f.target(name)); got != "one\n" {
		t.Fatalf("target = %q", got)
	}
	if s := strays(t, f.out); len(s) > 0 {
		t.Fatalf("staged files left: %v", s)
	}

	// Killed while its check runs: the shortened staged file stays.
	f.write(f.marks+"/hang", "")
	etcdtest.PutEventually(t, c, "/k", "two")
	cmd := f.command("apply", "--auto-approve")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	eventually(t, 30*time.Second, "the check to start", func() bool {
		_, err := os.Stat(f.marks + "/started")
		return err == nil
	})
	cmd.Process.Kill()
	<-exited
	// Let the orphaned check go: it exits 1 and touches nothing.
	os.Remove(f.marks + "/hang")
	w, err := os.OpenFile(block, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("go\n"))
	w.Close()
	left := strays(t, f.out)
	if len(left) != 1 || len(filepath.Base(left[0])) > 255 || !strings.HasSuffix(left[0], ".conf") {
		t.Fatalf("after the kill: staged files %v, want one shortened name ending in .conf", left)
	}
	if got := readFile(t, f.target(name)); got != "one\n" {
		t.Fatalf("target = %q after the kill, want the old content", got)
	}

	f.mustApply()
	if got := readFile(t, f.target(name)); got != "two\n" {
		t.Fatalf("target = %q", got)
	}
	if s := strays(t, f.out); len(s) > 0 {
		t.Fatalf("the next apply left the killed one's staged file: %v", s)
	}

	// 256 bytes: no file system takes it.
	f.binding("toolong", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/" + strings.Repeat("m", 251) + ".conf"})
	r = f.run("validate")
	if r.code != 1 || !strings.Contains(r.stderr, "conf.d/toolong: \"target\"") || !strings.Contains(r.stderr, "its file name is 256 bytes long; a file name has at most 255 bytes") {
		t.Fatalf("validate of a 256-byte target name: %s", r)
	}
}

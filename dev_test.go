package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Ctrl-C at a terminal signals the whole process group: reconfig-dev hears
// it from the terminal and again from reconfig, which passes it on. Pressed
// twice, the second time once the watch stopped, it must still stop both
// cleanly: exit 0, and the temporary directory with etcd's data removed.
func TestDevCtrlCToTheProcessGroup(t *testing.T) {
	bin, err := exec.LookPath("reconfig")
	if err != nil {
		t.Fatalf("the test binary is not installed as reconfig: %v", err)
	}
	for i := range 3 {
		tmp := t.TempDir()
		cmd := exec.Command(bin, "dev", "--listen", etcdtest.FreeAddr())
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp, "NO_COLOR=1", "RECONFIG_TEST_STATUS_FILE=")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Stdout = io.Discard
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		group := -cmd.Process.Pid
		t.Cleanup(func() { syscall.Kill(group, syscall.SIGKILL) })
		logs := make(chan string, 1000)
		go func() {
			defer close(logs)
			s := bufio.NewScanner(stderr)
			for s.Scan() {
				logs <- s.Text()
			}
		}()
		var seen []string
		await := func(text string) {
			t.Helper()
			timeout := time.After(30 * time.Second)
			for {
				select {
				case line, ok := <-logs:
					if !ok {
						t.Fatalf("run %d: reconfig dev ended before %q:\n%s", i, text, strings.Join(seen, "\n"))
					}
					seen = append(seen, line)
					if strings.Contains(line, text) {
						return
					}
				case <-timeout:
					t.Fatalf("run %d: no %q within 30s:\n%s", i, text, strings.Join(seen, "\n"))
				}
			}
		}
		await("target created")
		syscall.Kill(group, syscall.SIGINT)
		await("reconfig watch stopped")
		// etcd is closing and its directory is about to be removed.
		syscall.Kill(group, syscall.SIGINT)
		for line := range logs {
			seen = append(seen, line)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d: reconfig dev after Ctrl-C twice: %v; want exit 0\n%s", i, err, strings.Join(seen, "\n"))
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "reconfig-dev-*")); len(left) > 0 {
			t.Fatalf("run %d: reconfig dev left %v behind", i, left)
		}
	}
}

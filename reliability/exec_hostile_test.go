//go:build linux

package reliability

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// reconfig killed with SIGKILL under `watch --exec` (outside a container
// or a systemd unit, nothing else cleans up after it): the program goes
// with it (before: it ran on, orphaned, told of no change again, and a
// restarted reconfig started a second one beside it).
func TestExecProgramEndsWithReconfig(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	f := appFixture(t, srv.ClientURL)
	pidFile := f.marks + "/prog.pid"
	d := f.startWatch("--exec", "sh -c 'exec >/dev/null 2>&1; echo $$ > "+pidFile+"; trap \"\" TERM; while :; do sleep 0.1; done'")
	var pid int
	eventually(t, 20*time.Second, "the program to start", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	d.kill()
	eventually(t, 10*time.Second, "the program to end with reconfig", func() bool {
		// Gone, or a zombie nobody waited for yet.
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(b), ") Z ")
	})
}

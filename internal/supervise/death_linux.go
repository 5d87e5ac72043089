package supervise

import (
	"runtime"
	"syscall"
)

// dieWithParent makes the kernel send the child SIGKILL when the thread
// that started it ends: reconfig killed with SIGKILL takes its program
// with it instead of leaving it orphaned (in a container or a systemd unit
// something else would clean up; elsewhere nothing does). The thread is
// the one start runs on, locked to it until the child has been waited for
// (see lockThread).
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// lockThread keeps the calling goroutine on its OS thread: Go may end an
// idle thread, and the parent-death signal follows the thread, not the
// process.
func lockThread() (unlock func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

//go:build !linux

package supervise

import "syscall"

// dieWithParent does nothing where the kernel has no parent-death signal.
func dieWithParent(*syscall.SysProcAttr) {}

func lockThread() (unlock func()) { return func() {} }

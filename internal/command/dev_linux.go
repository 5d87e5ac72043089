package command

import "syscall"

// devProcAttr makes reconfig-dev stop (SIGTERM) when the reconfig that
// runs it dies without passing a signal on, killed with SIGKILL: dev's etcd
// and watch must not outlive it.
func devProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

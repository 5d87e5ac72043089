//go:build !linux

package command

import "syscall"

// devProcAttr: only Linux can tie reconfig-dev's life to reconfig's.
func devProcAttr() *syscall.SysProcAttr { return nil }

package supervise_test

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain handles SIGHUP and SIGINT, as reconfig's watch does before it
// starts a program: the children of a process that ignores them (a test
// run under nohup, or as a background job) would inherit that, and the
// shells these tests run cannot trap a signal ignored when they started.
func TestMain(m *testing.M) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT)
	os.Exit(m.Run())
}

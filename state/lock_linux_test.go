package state_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/state"
)

// `state unlock` takes the lock, removes the lock file and lets go. A
// process that opened that file before it was removed, waiting for its
// lock, must not take the lock of a file no longer at the path: a process
// started next opens a new file there, and the two would hold "the" lock
// at once.
func TestAcquireWaitingThroughUnlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	lockPath := state.LockPath(path)
	ctx := context.Background()
	// What state.Unlock does, held open between its steps.
	unlocker, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(unlocker.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	got := make(chan *state.Lock, 1)
	go func() {
		l, err := state.Acquire(ctx, path, "apply", 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	awaitOpenedTwice(t, lockPath)
	if err := os.Remove(lockPath); err != nil {
		t.Fatal(err)
	}
	unlocker.Close()
	waiter := <-got
	if waiter == nil {
		return
	}
	defer waiter.Release()
	other, err := state.Acquire(ctx, path, "watch", 0)
	if err == nil {
		other.Release()
		t.Fatal("two processes hold the lock: the waiter locked the removed lock file, the next one the new file at its path")
	}
	var le *state.LockedError
	if !errors.As(err, &le) || le.Info == nil || le.Info.Operation != "apply" {
		t.Fatalf("acquire beside the waiter's lock: %v", err)
	}
}

// awaitOpenedTwice returns once this process has path open twice (the
// test's own descriptor and the waiter's).
func awaitOpenedTwice(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ents {
			if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == path {
				n++
			}
		}
		if n >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiter never opened %s", path)
		}
		runtime.Gosched()
	}
}

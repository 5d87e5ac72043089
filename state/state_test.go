package state_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/state"
)

func TestSaveIncrementsSerialKeepsLineage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := state.Load(path)
	if err != nil || st.Exists() {
		t.Fatalf("missing state: %v, exists %v", err, st.Exists())
	}
	st.Bindings["a"] = &state.Record{Target: "/etc/a", SHA256: "x", Check: "ok", Reload: "none"}
	for i := 1; i <= 3; i++ {
		if err := st.Save(path); err != nil {
			t.Fatal(err)
		}
		got, err := state.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Serial != int64(i) || got.Lineage != st.Lineage || len(got.Lineage) != 32 {
			t.Fatalf("save %d: serial %d lineage %q (want %q)", i, got.Serial, got.Lineage, st.Lineage)
		}
		st = got
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state mode %v, %v", info.Mode(), err)
	}
}

func TestLoadRefusesDamage(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "is corrupt: the file is empty"},
		{"truncated", `{"version": 1, "lineage": "ab`, "is corrupt: unexpected EOF"},
		{"not json", "lineage = x", "is corrupt: invalid character"},
		{"unknown field", `{"version": 1, "lineage": "a", "serial": 1, "extra": 1}`, `unknown field "extra"`},
		{"no lineage", `{"version": 1, "serial": 1}`, "is corrupt: it has no lineage"},
		{"zero serial", `{"version": 1, "lineage": "a", "serial": 0}`, "is corrupt: its serial is not positive"},
		{"future version", `{"version": 9, "lineage": "a", "serial": 1}`, "format version 9 is not supported"},
		{"record without target", `{"version": 1, "lineage": "a", "serial": 1, "bindings": {"x": {}}}`, `binding "x" has no target`},
		// Bindings name absolute, clean targets: a record of anything else
		// is no target reconfig wrote, and prune would delete it (a
		// relative one in the working directory).
		{"relative target", `{"version": 1, "lineage": "a", "serial": 1, "bindings": {"x": {"target": "etc/passwd"}}}`,
			`binding "x" records target "etc/passwd", which is not an absolute, clean path`},
		{"target with ..", `{"version": 1, "lineage": "a", "serial": 1, "bindings": {"x": {"target": "/srv/../etc/passwd"}}}`,
			`binding "x" records target "/srv/../etc/passwd", which is not an absolute, clean path`},
		{"relative orphan", `{"version": 1, "lineage": "a", "serial": 1, "orphans": {"x": {"target": "x", "binding": "b"}}}`,
			`orphan "x" records target "x", which is not an absolute, clean path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			os.WriteFile(path, []byte(tc.content), 0o600)
			_, err := state.Load(path)
			var se *state.Error
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) || hint.Of(err) == "" {
				t.Fatalf("err = %v, want one naming %s and containing %q, with a hint", err, path, tc.want)
			}
		})
	}
}

func TestCheckCluster(t *testing.T) {
	st := state.New()
	st.ClusterID = "aa"
	if err := st.CheckCluster("s", "bb", false); err == nil || !strings.Contains(err.Error(), "written for etcd cluster aa, but this etcd is cluster bb") {
		t.Fatalf("err = %v", err)
	}
	for _, c := range []struct {
		id    string
		force bool
	}{{"aa", false}, {"bb", true}, {"", false}} {
		if err := st.CheckCluster("s", c.id, c.force); err != nil {
			t.Fatalf("cluster %q force %v: %v", c.id, c.force, err)
		}
	}
}

func TestLockExcludesAndNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	ctx := context.Background()
	l1, err := state.Acquire(ctx, path, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = state.Acquire(ctx, path, "watch", 0)
	var le *state.LockedError
	if !errors.As(err, &le) || le.Info == nil || le.Info.PID != os.Getpid() || le.Info.Operation != "apply" {
		t.Fatalf("second acquire: %v (%+v)", err, le)
	}
	if !strings.Contains(err.Error(), "locked by pid") || !strings.Contains(le.Hint(), "--lock-timeout") {
		t.Fatalf("message %q hint %q", err, le.Hint())
	}
	// With a timeout, the waiter gets the lock once it is released.
	got := make(chan error, 1)
	go func() {
		l, err := state.Acquire(ctx, path, "watch", 10*time.Second)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting acquire: %v", err)
	}
	// A lock nobody holds can be unlocked; its file goes.
	if _, err := state.Unlock(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state.LockPath(path)); !os.IsNotExist(err) {
		t.Fatal("lock file still there")
	}
}

func TestUnlockRefusesLiveHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	l, err := state.Acquire(context.Background(), path, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := state.Unlock(path); err == nil {
		t.Fatal("unlock removed a lock held by a live process")
	}
}

// A Locker keeps its lock file open between locks and excludes other
// holders as Acquire does; a lock file removed between its locks (state
// unlock) or replaced is opened again, so that the lock still excludes a
// process that opens the file now at the path.
func TestLockerExcludesAcrossLocks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	ctx := context.Background()
	locker := state.NewLocker(path, "watch")
	defer locker.Close()
	// Staged state files of a killed save go when a lock is released.
	stale := filepath.Join(dir, ".reconfig-0123456789ab.state.json")
	if err := os.WriteFile(stale, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for round, between := range []func(){
		func() {},
		func() {
			if _, err := state.Unlock(path); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := os.Remove(state.LockPath(path)); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(state.LockPath(path), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	} {
		between()
		l, err := locker.Acquire(ctx, 0)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		_, err = state.Acquire(ctx, path, "apply", 0)
		var le *state.LockedError
		if !errors.As(err, &le) || le.Info == nil || le.Info.Operation != "watch" {
			t.Fatalf("round %d: acquire beside the locker's lock: %v", round, err)
		}
		if err := l.Release(); err != nil {
			t.Fatalf("round %d: release: %v", round, err)
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Fatalf("round %d: the staged state file is still there after a release", round)
		}
		other, err := state.Acquire(ctx, path, "apply", 0)
		if err != nil {
			t.Fatalf("round %d: acquire after the locker's release: %v", round, err)
		}
		// The locker waits for it, and gets the lock once it is given up.
		got := make(chan error, 1)
		go func() {
			l, err := locker.Acquire(ctx, 10*time.Second)
			if err == nil {
				err = l.Release()
			}
			got <- err
		}()
		if err := other.Release(); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("round %d: waiting locker: %v", round, err)
		}
	}
}

// A Locker's lock says whether a process may have died holding it since
// this one released it: the lock file was opened anew, or still names a
// holder (a clean release empties it).
func TestLockerTellsInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	ctx := context.Background()
	locker := state.NewLocker(path, "watch")
	defer locker.Close()
	for i, tc := range []struct {
		name    string
		between func()
		want    bool
	}{
		{name: "first lock: the file opened", between: func() {}, want: true},
		{name: "after its own release", between: func() {}, want: false},
		{name: "after another process's release", between: func() {
			l, err := state.Acquire(ctx, path, "apply", 0)
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
		}, want: false},
		{name: "a holder that died: its record stays", between: func() {
			if err := os.WriteFile(state.LockPath(path), []byte(`{"pid": 1, "operation": "apply"}`+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: true},
		{name: "the file removed (state unlock)", between: func() {
			if _, err := state.Unlock(path); err != nil {
				t.Fatal(err)
			}
		}, want: true},
	} {
		tc.between()
		l, err := locker.Acquire(ctx, 0)
		if err != nil {
			t.Fatalf("%d %s: %v", i, tc.name, err)
		}
		if got := l.Interrupted(); got != tc.want {
			t.Errorf("%s: Interrupted() = %v, want %v", tc.name, got, tc.want)
		}
		if err := l.Release(); err != nil {
			t.Fatal(err)
		}
	}
}

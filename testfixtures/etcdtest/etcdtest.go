// Package etcdtest starts real etcd servers for tests: embedded members on
// random loopback ports (package embedded), one per test or script, stopped
// when the test ends.
package etcdtest

import (
	"path/filepath"

	"github.com/reconfig/reconfig/internal/embedded"
)

// TB is the part of testing.TB the helpers need.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Start starts a fast single-member etcd cluster and stops it when the
// test ends.
func Start(t TB, opts ...embedded.Options) *embedded.Server {
	t.Helper()
	var o embedded.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "etcd")
	}
	o.Fast = true
	s, err := embedded.Start(o)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// server a test starts later (embedded.FreeAddr: below the ephemeral
// range).
func FreeAddr() string { return embedded.FreeAddr() }

// Package etcdtest starts real etcd servers for tests: embedded members on
// random loopback ports (package embedded), one per test or script, stopped
// when the test ends.
package etcdtest

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/reconfig/reconfig/embedded"
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
// server a test starts later. It is below the kernel's ephemeral range
// (from 32768 by default), where ports are handed out for port 0 and for
// outgoing connections: a client dialing a free ephemeral port on loopback
// before its server starts can connect to itself (TCP simultaneous open),
// and the server then cannot bind it.
func FreeAddr() string {
	lo, hi := 10000, ephemeralStart()
	for {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return l.Addr().String()
	}
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}

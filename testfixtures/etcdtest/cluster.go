package etcdtest

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/reconfig/reconfig/internal/embedded"
)

// StartCluster starts n embedded members in this process (fast raft ticks)
// and stops them when the test ends.
func StartCluster(t TB, n int) []*embedded.Server {
	t.Helper()
	opts := make([]embedded.Options, n)
	var peers []string
	for i := range opts {
		opts[i] = embedded.Options{
			Name:      fmt.Sprintf("m%d", i),
			Dir:       filepath.Join(t.TempDir(), fmt.Sprintf("m%d", i)),
			ClientURL: "http://" + FreeAddr(),
			PeerURL:   "http://" + FreeAddr(),
			Fast:      true,
		}
		peers = append(peers, opts[i].Name+"="+opts[i].PeerURL)
	}
	servers := make([]*embedded.Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range opts {
		opts[i].InitialCluster = strings.Join(peers, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = embedded.Start(opts[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, s := range servers {
				if s != nil {
					s.Close()
				}
			}
			t.Fatalf("start member %d: %v", i, err)
		}
	}
	for _, s := range servers {
		t.Cleanup(s.Close)
	}
	return servers
}

// Leader returns the index of the member that leads, or -1.
func Leader(servers []*embedded.Server) int {
	for i, s := range servers {
		if s.Etcd != nil && s.Etcd.Server.Leader() == s.Etcd.Server.MemberID() {
			return i
		}
	}
	return -1
}

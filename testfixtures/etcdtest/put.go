package etcdtest

import (
	"context"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
)

// PutEventually sets key, retrying for up to 30 s while the cluster has no
// leader or the client fails over, and returns the revision.
func PutEventually(t TB, c *etcd.Client, key, value string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		rev, err := c.Put(ctx, key, value, 0)
		cancel()
		if err == nil {
			return rev
		}
		if time.Now().After(deadline) {
			t.Fatalf("put %s: %v", key, err)
		}
	}
}

package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// Lease is an etcd lease: keys put on it disappear when it expires or is
// revoked.
type Lease int64

// GrantLease grants a lease of ttl (whole seconds, at least one).
func (c *Client) GrantLease(ctx context.Context, ttl time.Duration) (Lease, error) {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	secs := max(int64((ttl+time.Second-1)/time.Second), 1)
	resp, err := c.lease.Grant(rctx, secs)
	if err != nil {
		return 0, c.describe(fmt.Sprintf("grant a %ds lease", secs), err)
	}
	return Lease(resp.ID), nil
}

// KeepAlive renews the lease until ctx ends. The returned channel is
// closed when the lease can no longer be renewed: ctx ended, or the lease
// expired or was revoked (keys on it are gone). The client renews every
// third of the TTL and retries across reconnections by itself.
func (c *Client) KeepAlive(ctx context.Context, l Lease) (<-chan struct{}, error) {
	ch, err := c.lease.KeepAlive(ctx, clientv3.LeaseID(l))
	if err != nil {
		return nil, c.describe("renew lease", err)
	}
	lost := make(chan struct{})
	go func() {
		defer close(lost)
		for range ch {
		}
	}()
	return lost, nil
}

// RevokeLease revokes the lease: every key on it is deleted at once.
func (c *Client) RevokeLease(ctx context.Context, l Lease) error {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	if _, err := c.lease.Revoke(rctx, clientv3.LeaseID(l)); err != nil {
		return c.describe("revoke lease", err)
	}
	return nil
}

// PutOnLease sets key to value on the lease and returns the revision.
func (c *Client) PutOnLease(ctx context.Context, key, value string, l Lease) (int64, error) {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	resp, err := c.kv.Put(rctx, key, value, clientv3.WithLease(clientv3.LeaseID(l)))
	if err != nil {
		return 0, c.describe("set "+key, err)
	}
	return resp.Header.Revision, nil
}

// PutAllOnLease sets every key to its value on the lease, in one
// transaction, and returns the revision.
func (c *Client) PutAllOnLease(ctx context.Context, l Lease, kvs ...snapshot.KV) (int64, error) {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	ops := make([]clientv3.Op, len(kvs))
	for i, kv := range kvs {
		ops[i] = clientv3.OpPut(kv.Key, kv.Value, clientv3.WithLease(clientv3.LeaseID(l)))
	}
	resp, err := c.kv.Txn(rctx).Then(ops...).Commit()
	if err != nil {
		return 0, c.describe("set "+kvs[0].Key, err)
	}
	return resp.Header.Revision, nil
}

// Entry is a key with its value and revisions.
type Entry struct {
	Key, Value     string
	CreateRevision int64
	ModRevision    int64
	Lease          Lease
}

// List returns every key under prefix, sorted, and the revision it was
// read at. It is for small ranges (a fleet's keys): one request, not paged.
func (c *Client) List(ctx context.Context, prefix string) ([]Entry, int64, error) {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	resp, err := c.kv.Get(rctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, c.describe("read "+prefix, err)
	}
	out := make([]Entry, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = Entry{Key: string(kv.Key), Value: string(kv.Value), CreateRevision: kv.CreateRevision,
			ModRevision: kv.ModRevision, Lease: Lease(kv.Lease)}
	}
	return out, resp.Header.Revision, nil
}

package etcd

import (
	"context"
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// NotFoundError is a key that does not exist.
type NotFoundError struct{ Key string }

func (e *NotFoundError) Error() string { return "key not found: " + e.Key }

// Get returns the value of one key.
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	resp, err := c.kv.Get(rctx, key)
	if err != nil {
		return "", c.describe("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", &NotFoundError{Key: key}
	}
	return string(resp.Kvs[0].Value), nil
}

// GetTree returns every key the selector matches, sorted, read at one
// revision and paged.
func (c *Client) GetTree(ctx context.Context, sel snapshot.Selector) ([]snapshot.KV, error) {
	snap, _, err := c.Snapshot(ctx, []snapshot.Selector{sel})
	if err != nil {
		return nil, err
	}
	return snap.Select(sel)
}

// Children lists the direct children of a "directory" key: the distinct
// paths one level below key + "/", sorted.
func (c *Client) Children(ctx context.Context, key string) ([]string, error) {
	sel := snapshot.Selector{Key: key, Recursive: true}
	kvs, err := c.GetTree(ctx, sel)
	if err != nil {
		return nil, err
	}
	prefix := sel.Prefix()
	seen := map[string]bool{}
	var out []string
	for _, kv := range kvs {
		rest, ok := strings.CutPrefix(kv.Key, prefix)
		if !ok || rest == "" {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		if !seen[name] {
			seen[name] = true
			out = append(out, prefix+name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Put sets key to value, with a lease of ttl seconds when ttl > 0, and
// returns the revision.
func (c *Client) Put(ctx context.Context, key, value string, ttl int64) (int64, error) {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	var opts []clientv3.OpOption
	if ttl > 0 {
		lease, err := c.lease.Grant(rctx, ttl)
		if err != nil {
			return 0, c.describe(fmt.Sprintf("grant a %ds lease", ttl), err)
		}
		opts = append(opts, clientv3.WithLease(lease.ID))
	}
	resp, err := c.kv.Put(rctx, key, value, opts...)
	if err != nil {
		return 0, c.describe("set "+key, err)
	}
	return resp.Header.Revision, nil
}

// Delete removes key, and with recursive every key under key + "/", in one
// transaction. It returns how many keys were removed.
func (c *Client) Delete(ctx context.Context, key string, recursive bool) (int64, error) {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	if !recursive {
		resp, err := c.kv.Delete(rctx, key)
		if err != nil {
			return 0, c.describe("delete "+key, err)
		}
		return resp.Deleted, nil
	}
	sel := snapshot.Selector{Key: key, Recursive: true}
	prefix := sel.Prefix()
	ops := []clientv3.Op{clientv3.OpDelete(prefix, clientv3.WithPrefix())}
	// The key itself, also when given as "/app/" (the prefix op already
	// covers "/").
	if prefix != "/" {
		ops = append(ops, clientv3.OpDelete(strings.TrimSuffix(prefix, "/")))
	}
	resp, err := c.kv.Txn(rctx).Then(ops...).Commit()
	if err != nil {
		return 0, c.describe("delete "+key, err)
	}
	var n int64
	for _, r := range resp.Responses {
		if d := r.GetResponseDeleteRange(); d != nil {
			n += d.Deleted
		}
	}
	return n, nil
}

// MemberStatus is what one endpoint says about itself.
type MemberStatus struct {
	Endpoint  string
	MemberID  string
	Version   string
	IsLeader  bool
	RaftTerm  uint64
	Revision  int64
	DBSize    int64
	Errors    []string
	ClusterID string
	Err       error
}

// Member is one member of the cluster.
type Member struct {
	ID         string
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// Status asks every endpoint for its status, and the cluster for its
// members.
func (c *Client) Status(ctx context.Context) ([]MemberStatus, []Member, error) {
	var out []MemberStatus
	for _, ep := range c.cli.Endpoints() {
		rctx, cancel := c.requestCtx(ctx)
		resp, err := c.cli.Status(rctx, ep)
		cancel()
		if err != nil {
			out = append(out, MemberStatus{Endpoint: ep, Err: c.describe("status of "+ep, err)})
			continue
		}
		out = append(out, MemberStatus{
			Endpoint:  ep,
			MemberID:  fmt.Sprintf("%016x", resp.Header.MemberId),
			Version:   resp.Version,
			IsLeader:  resp.Leader == resp.Header.MemberId,
			RaftTerm:  resp.RaftTerm,
			Revision:  resp.Header.Revision,
			DBSize:    resp.DbSize,
			Errors:    resp.Errors,
			ClusterID: clusterID(resp.Header.ClusterId),
		})
	}
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	ml, err := c.cli.MemberList(rctx)
	if err != nil {
		return out, nil, c.describe("list members", err)
	}
	var members []Member
	for _, m := range ml.Members {
		members = append(members, Member{ID: fmt.Sprintf("%016x", m.ID), Name: m.Name, PeerURLs: m.PeerURLs,
			ClientURLs: m.ClientURLs, IsLearner: m.IsLearner})
	}
	return out, members, nil
}

// Compact compacts etcd's history up to rev.
func (c *Client) Compact(ctx context.Context, rev int64) error {
	rctx, cancel := c.requestCtx(ctx)
	defer cancel()
	_, err := c.cli.Compact(rctx, rev, clientv3.WithCompactPhysical())
	return c.describe(fmt.Sprintf("compact to revision %d", rev), err)
}

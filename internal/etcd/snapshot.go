package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
)

const (
	// maxTxnOps is etcd's default --max-txn-ops; a cluster configured
	// lower makes the batches halve until they fit.
	maxTxnOps = 128
	// keysPerTxn is about how many keys one batch asks for; the page size
	// of each range is this divided by the ranges in the batch.
	keysPerTxn = 16384
	minPage    = 512
	// snapshotAttempts bounds restarts after a compaction mid-read.
	snapshotAttempts = 5
)

// ReadStats counts the work of one snapshot, for benchmarks and --debug.
type ReadStats struct {
	RoundTrips int
	Ranges     int
	Keys       int
}

// Snapshot reads every key the selectors match, all at one revision: the
// first request fixes the revision and every later one is pinned to it with
// WithRev. Ranges are merged (snapshot.Cover), batched into transactions of
// up to maxTxnOps range reads, and paged. A compaction of the revision
// mid-read restarts the snapshot.
func (c *Client) Snapshot(ctx context.Context, sels []snapshot.Selector) (*snapshot.Snapshot, ReadStats, error) {
	return c.snapshotAt(ctx, sels, 0)
}

// SnapshotAt reads every key the selectors match as they were at revision
// rev, like Snapshot. A revision already compacted is an error that
// errors.Is ErrCompacted.
func (c *Client) SnapshotAt(ctx context.Context, sels []snapshot.Selector, rev int64) (*snapshot.Snapshot, ReadStats, error) {
	return c.snapshotAt(ctx, sels, rev)
}

func (c *Client) snapshotAt(ctx context.Context, sels []snapshot.Selector, rev int64) (*snapshot.Snapshot, ReadStats, error) {
	var stats ReadStats
	oneByOne := false
	for attempt := 1; ; attempt++ {
		var s *snapshot.Snapshot
		var err error
		if oneByOne {
			s, err = c.readSpans(ctx, sels, rev, &stats)
		} else {
			s, err = c.readSnapshot(ctx, sels, rev, &stats)
		}
		if errors.Is(err, rpctypes.ErrCompacted) && rev == 0 && attempt < snapshotAttempts {
			continue
		}
		if errors.Is(err, rpctypes.ErrPermissionDenied) && !oneByOne {
			// Some range is not readable by this user: read them one by
			// one to tell a recursive binding's own key (absent, then)
			// from a range the bindings need.
			oneByOne = true
			continue
		}
		if err != nil && rev > 0 {
			return nil, stats, c.describe(fmt.Sprintf("read snapshot at revision %d", rev), err)
		}
		if err != nil {
			return nil, stats, c.describe("read snapshot", err)
		}
		return s, stats, nil
	}
}

type pending struct {
	span int    // index into the snapshot's spans
	from string // next key to read
}

func (c *Client) readSnapshot(ctx context.Context, sels []snapshot.Selector, rev int64, stats *ReadStats) (*snapshot.Snapshot, error) {
	snap := &snapshot.Snapshot{Prefix: c.cfg.Prefix, Spans: snapshot.Cover(sels), Revision: rev}
	stats.Ranges = len(snap.Spans)
	todo := make([]pending, len(snap.Spans))
	for i, sp := range snap.Spans {
		todo[i] = pending{span: i, from: sp.Start}
	}
	if len(todo) == 0 {
		// Nothing to read, but the revision and cluster still matter.
		rctx, cancel := c.requestCtx(ctx)
		defer cancel()
		resp, err := c.kv.Get(rctx, "\x00", clientv3.WithCountOnly())
		stats.RoundTrips++
		if err != nil {
			return nil, err
		}
		if snap.Revision == 0 {
			snap.Revision = resp.Header.Revision
		}
		snap.ClusterID = clusterID(resp.Header.ClusterId)
		snap.Stamp()
		return snap, nil
	}
	ops := maxTxnOps
	for len(todo) > 0 {
		n := min(len(todo), ops)
		batch := todo[:n]
		page := int64(max(keysPerTxn/n, minPage))
		gets := make([]clientv3.Op, n)
		for i, p := range batch {
			opts := []clientv3.OpOption{clientv3.WithRange(snap.Spans[p.span].End), clientv3.WithLimit(page)}
			if snap.Revision > 0 {
				opts = append(opts, clientv3.WithRev(snap.Revision))
			}
			gets[i] = clientv3.OpGet(p.from, opts...)
		}
		rctx, cancel := c.requestCtx(ctx)
		resp, err := c.kv.Txn(rctx).Then(gets...).Commit()
		cancel()
		stats.RoundTrips++
		if errors.Is(err, rpctypes.ErrTooManyOps) && n > 1 {
			// The cluster runs with a lower --max-txn-ops.
			ops = n / 2
			continue
		}
		if err != nil {
			return nil, err
		}
		if snap.ClusterID == "" {
			snap.ClusterID = clusterID(resp.Header.ClusterId)
			if snap.Revision == 0 {
				snap.Revision = resp.Header.Revision
			}
		}
		if len(resp.Responses) != n {
			return nil, fmt.Errorf("etcd answered %d of %d range reads", len(resp.Responses), n)
		}
		var more []pending
		for i, p := range batch {
			rr := resp.Responses[i].GetResponseRange()
			if rr == nil {
				return nil, fmt.Errorf("etcd answered a range read with %T", resp.Responses[i].Response)
			}
			sp := &snap.Spans[p.span]
			for _, kv := range rr.Kvs {
				if err := sp.Append(snapshot.KV{Key: string(kv.Key), Value: string(kv.Value)}); err != nil {
					return nil, fmt.Errorf("etcd answered a read of %s out of order: %w", sp.Describe(), err)
				}
			}
			stats.Keys += len(rr.Kvs)
			if rr.More && len(rr.Kvs) > 0 {
				more = append(more, pending{span: p.span, from: string(rr.Kvs[len(rr.Kvs)-1].Key) + "\x00"})
			}
		}
		todo = append(more, todo[n:]...)
	}
	snap.Stamp()
	return snap, nil
}

func clusterID(id uint64) string {
	return fmt.Sprintf("%016x", id)
}

// readSpans reads each span with its own paged requests, all pinned to the
// revision of the first answer. A span the user may not read is an error
// naming its key, unless it is Optional (a recursive binding's own key),
// which then counts as absent. It is the slow path after a permission
// error of the batched read.
func (c *Client) readSpans(ctx context.Context, sels []snapshot.Selector, rev int64, stats *ReadStats) (*snapshot.Snapshot, error) {
	snap := &snapshot.Snapshot{Prefix: c.cfg.Prefix, Spans: snapshot.CoverExact(sels), Revision: rev}
	for i := range snap.Spans {
		sp := &snap.Spans[i]
		from := sp.Start
		for {
			opts := []clientv3.OpOption{clientv3.WithRange(sp.End), clientv3.WithLimit(keysPerTxn)}
			if snap.Revision > 0 {
				opts = append(opts, clientv3.WithRev(snap.Revision))
			}
			rctx, cancel := c.requestCtx(ctx)
			resp, err := c.kv.Get(rctx, from, opts...)
			cancel()
			stats.RoundTrips++
			if errors.Is(err, rpctypes.ErrPermissionDenied) && sp.Optional {
				sp.Denied = true
				break
			}
			if errors.Is(err, rpctypes.ErrPermissionDenied) {
				return nil, hint.Wrap(&Error{Msg: fmt.Sprintf("read snapshot: permission denied for user %s to read %s", c.cfg.Username, sp.Describe()), Err: err},
					"grant the user's role read access to that key or prefix (etcdctl role grant-permission), or remove the binding")
			}
			if err != nil {
				return nil, err
			}
			if snap.ClusterID == "" {
				snap.ClusterID = clusterID(resp.Header.ClusterId)
				if snap.Revision == 0 {
					snap.Revision = resp.Header.Revision
				}
			}
			for _, kv := range resp.Kvs {
				if err := sp.Append(snapshot.KV{Key: string(kv.Key), Value: string(kv.Value)}); err != nil {
					return nil, fmt.Errorf("etcd answered a read of %s out of order: %w", sp.Describe(), err)
				}
			}
			stats.Keys += len(resp.Kvs)
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	if snap.ClusterID == "" {
		// Every range was an unreadable own key: the revision comes from
		// the endpoint's status, which needs no key permission.
		rctx, cancel := c.requestCtx(ctx)
		defer cancel()
		st, err := c.cli.Status(rctx, c.cli.Endpoints()[0])
		stats.RoundTrips++
		if err != nil {
			return nil, err
		}
		if snap.Revision == 0 {
			snap.Revision = st.Header.Revision
		}
		snap.ClusterID = clusterID(st.Header.ClusterId)
	}
	snap.Stamp()
	return snap, nil
}

package etcd

import (
	"context"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/reconfig/reconfig/snapshot"
)

// Batch is one response of the watch stream.
type Batch struct {
	// Span is the index of the watched span (snapshot.Cover order) the
	// batch belongs to.
	Span int
	// Events are the changes, in revision order.
	Events []snapshot.Event
	// Revision is the store revision the response was sent at; with no
	// events it is a progress notification: the span has seen everything
	// up to Revision.
	Revision int64
	// Err ends the watch: ErrCompacted (CompactRevision tells the oldest
	// revision still available), a lost leader, a canceled watch.
	Err             error
	CompactRevision int64
}

// Watch watches every span, each from its Rev (from the current revision
// when Rev is 0), on one gRPC stream (one context),
// requiring a leader and asking for progress notifications. Batches of
// all spans arrive on one channel; it is closed when ctx ends or after a
// batch with Err.
func (c *Client) Watch(ctx context.Context, spans []snapshot.Span) <-chan Batch {
	out := make(chan Batch)
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	var wg sync.WaitGroup
	var once sync.Once
	for i, sp := range spans {
		opts := []clientv3.OpOption{clientv3.WithRange(sp.End), clientv3.WithProgressNotify()}
		if sp.Rev > 0 {
			// From Rev itself, not Rev + 1: etcd answers a progress
			// request only for watches whose start revision the store has
			// reached, so on an idle cluster a watch from Rev + 1 could
			// not prove the stream alive. An event at Rev is already in
			// the span, and ApplySpan drops it.
			opts = append(opts, clientv3.WithRev(sp.Rev))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Watch blocks until etcd registers the watch: keep that off
			// the caller, whose liveness check must go on.
			wch := c.watcher.Watch(ctx, sp.Start, opts...)
			for resp := range wch {
				b := Batch{Span: i, Revision: resp.Header.Revision}
				if err := resp.Err(); err != nil {
					b.Err = c.describe("watch", err)
					b.CompactRevision = resp.CompactRevision
				} else if resp.Canceled {
					b.Err = &Error{Msg: "watch: canceled by etcd"}
				}
				for _, ev := range resp.Events {
					b.Events = append(b.Events, snapshot.Event{
						Revision: ev.Kv.ModRevision,
						Key:      string(ev.Kv.Key),
						Value:    string(ev.Kv.Value),
						Delete:   ev.Type == clientv3.EventTypeDelete,
					})
				}
				select {
				case out <- b:
				case <-ctx.Done():
					return
				}
				if b.Err != nil {
					once.Do(cancel)
					return
				}
			}
			// The channel closed without an error: the client is closing
			// or the context ended.
			if ctx.Err() == nil {
				select {
				case out <- Batch{Span: i, Err: &Error{Msg: "watch: the stream closed"}}:
				case <-ctx.Done():
				}
				once.Do(cancel)
			}
		}()
	}
	go func() {
		wg.Wait()
		cancel()
		close(out)
	}()
	return out
}

// RequestProgress asks etcd to send a progress notification on the watch
// stream of ctx, to prove the stream is alive.
func (c *Client) RequestProgress(ctx context.Context) error {
	rctx, cancel := c.requestCtx(clientv3.WithRequireLeader(ctx))
	defer cancel()
	return c.describe("request watch progress", c.watcher.RequestProgress(rctx))
}

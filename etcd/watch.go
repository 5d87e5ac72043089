package etcd

import (
	"context"
	"reflect"
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

// watchesPerReader is how many watch channels one goroutine receives
// from: a daemon with thousands of bindings keeps a few readers, not a
// goroutine per watch.
const watchesPerReader = 64

// Watch watches every span, each from its Rev (from the current revision
// when Rev is 0), on one gRPC stream (one context), requiring a leader and
// asking for progress notifications. Batches of all spans arrive on one
// channel; it is closed when ctx ends or after a batch with Err.
func (c *Client) Watch(ctx context.Context, spans []snapshot.Span) <-chan Batch {
	out := make(chan Batch)
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	var wg sync.WaitGroup
	var once sync.Once
	stop := func() { once.Do(cancel) }
	for first := 0; first < len(spans); first += watchesPerReader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.readWatches(ctx, spans, first, min(first+watchesPerReader, len(spans)), out, stop)
		}()
	}
	go func() {
		wg.Wait()
		if len(spans) == 0 {
			// Nothing to watch: stay open until the caller is done.
			<-ctx.Done()
		}
		stop()
		close(out)
	}()
	return out
}

// readWatches opens the watches of spans[first:last] and forwards their
// responses as batches until ctx ends or one of them fails.
func (c *Client) readWatches(ctx context.Context, spans []snapshot.Span, first, last int, out chan<- Batch, stop func()) {
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
	for i := first; i < last; i++ {
		sp := spans[i]
		opts := []clientv3.OpOption{clientv3.WithRange(sp.End), clientv3.WithProgressNotify()}
		if sp.Rev > 0 {
			// From Rev itself, not Rev + 1: etcd answers a progress
			// request only for watches whose start revision the store has
			// reached, so on an idle cluster a watch from Rev + 1 could
			// not prove the stream alive. An event at Rev is already in
			// the span, and ApplySpan drops it.
			opts = append(opts, clientv3.WithRev(sp.Rev))
		}
		// Watch blocks until etcd registers the watch: this runs off the
		// caller, whose liveness check must go on.
		wch := c.watcher.Watch(ctx, sp.Start, opts...)
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(wch)})
	}
	send := func(b Batch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		chosen, v, ok := reflect.Select(cases)
		if chosen == 0 {
			return
		}
		span := first + chosen - 1
		if !ok {
			// The channel closed without an error: the client is closing
			// or the context ended.
			if ctx.Err() == nil {
				send(Batch{Span: span, Err: &Error{Msg: "watch: the stream closed"}})
				stop()
			}
			return
		}
		resp := v.Interface().(clientv3.WatchResponse)
		b := Batch{Span: span, Revision: resp.Header.Revision}
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
		if !send(b) {
			return
		}
		if b.Err != nil {
			stop()
			return
		}
	}
}

// RequestProgress asks etcd to send a progress notification on the watch
// stream of ctx, to prove the stream is alive.
func (c *Client) RequestProgress(ctx context.Context) error {
	rctx, cancel := c.requestCtx(clientv3.WithRequireLeader(ctx))
	defer cancel()
	return c.describe("request watch progress", c.watcher.RequestProgress(rctx))
}

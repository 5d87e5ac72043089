package etcd

import (
	"context"
	"errors"
	"iter"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/reconfig/reconfig/internal/snapshot"
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
	// ClusterID is the id of the cluster that sent the response, as
	// Snapshot.ClusterID spells it: another etcd may answer on the same
	// endpoint after the client reconnected.
	ClusterID string
	// Err ends the watch of this span (the others go on): ErrCompacted
	// (CompactRevision tells the oldest revision still available), a
	// permission error, a lost leader, a canceled watch.
	Err             error
	CompactRevision int64
}

// streamIDs numbers the Streams.
var streamIDs atomic.Uint64

// watchesPerReader is how many watch channels one goroutine receives
// from: a daemon with thousands of bindings keeps a few readers, not a
// goroutine per watch.
const watchesPerReader = 64

// Stream is the watch of a set of spans on one gRPC stream. Responses are
// queued as they arrive, whatever the taker is doing, so that a taker
// busy with a long cycle finds everything that arrived meanwhile in one
// Take.
type Stream struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queue  []Batch
	closed bool
	ready  chan struct{} // holds a token while the queue is not empty or the stream closed
}

// Watch watches every span, each from its Rev (from the current revision
// when Rev is 0), on one gRPC stream of its own, requiring a leader and
// asking for progress notifications. Spans marked Denied (an optional own
// key the user may not read) are not watched. received, when not nil, is
// called with the number of events of each response as it arrives, from
// several goroutines at once: it must be safe for that. The
// stream ends when ctx ends, when Close is called, or when the watch of
// every span has ended with an error.
func (c *Client) Watch(ctx context.Context, spans []snapshot.Span, received func(events int)) *Stream {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	// A gRPC stream of its own. The client puts the watches of contexts
	// with the same metadata on one stream, which keeps the auth token it
	// was opened with; etcd checks that token for every watch created on
	// it, and by now it may have expired. A new stream gets a new token.
	ctx = metadata.AppendToOutgoingContext(ctx, "reconfig-watch", strconv.FormatUint(streamIDs.Add(1), 10))
	s := &Stream{ctx: ctx, cancel: cancel, ready: make(chan struct{}, 1)}
	var watched []int
	for i, sp := range spans {
		if !sp.Denied {
			watched = append(watched, i)
		}
	}
	var wg sync.WaitGroup
	for first := 0; first < len(watched); first += watchesPerReader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.readWatches(s, spans, watched[first:min(first+watchesPerReader, len(watched))], received)
		}()
	}
	go func() {
		wg.Wait()
		if len(watched) == 0 {
			// Nothing to watch: stay open until the caller is done.
			<-ctx.Done()
		}
		s.close()
	}()
	return s
}

// Ready receives a value whenever batches wait to be taken or the stream
// has ended.
func (s *Stream) Ready() <-chan struct{} { return s.ready }

// Take returns every batch that arrived since the last Take, in arrival
// order, and whether the stream is still open. A closed stream returns
// the batches that were left and false.
func (s *Stream) Take() (batches []Batch, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	batches, s.queue = s.queue, nil
	if s.closed {
		s.signal()
	}
	return batches, !s.closed
}

// All yields the batches as they arrive, until the stream ends.
func (s *Stream) All() iter.Seq[Batch] {
	return func(yield func(Batch) bool) {
		for range s.ready {
			bs, open := s.Take()
			for _, b := range bs {
				if !yield(b) {
					return
				}
			}
			if !open {
				return
			}
		}
	}
}

// Close ends the stream and every watch of it.
func (s *Stream) Close() {
	s.cancel()
}

// Context is the stream's context: a progress request made with it, and
// only with it, goes to this stream.
func (s *Stream) Context() context.Context { return s.ctx }

func (s *Stream) push(b Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.queue = append(s.queue, b)
	s.signal()
}

func (s *Stream) close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.signal()
}

// signal leaves a token in ready; the caller holds mu.
func (s *Stream) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// readWatches opens the watches of spans[idx...] and queues their
// responses until the stream's context ends or every one of them ended.
func (c *Client) readWatches(s *Stream, spans []snapshot.Span, idx []int, received func(int)) {
	ctx := s.ctx
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
	for _, i := range idx {
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
	live := len(idx)
	// end stops receiving from a case whose watch is over.
	end := func(chosen int) {
		cases[chosen].Chan = reflect.ValueOf((<-chan clientv3.WatchResponse)(nil))
		live--
	}
	for live > 0 {
		chosen, v, ok := reflect.Select(cases)
		if chosen == 0 {
			return
		}
		span := idx[chosen-1]
		if !ok {
			// The channel closed without an error: the client is closing
			// or the context ended.
			if ctx.Err() == nil {
				s.push(Batch{Span: span, Err: &Error{Msg: "watch: the stream closed"}})
			}
			end(chosen)
			continue
		}
		resp := v.Interface().(clientv3.WatchResponse)
		b := Batch{Span: span, Revision: resp.Header.Revision, ClusterID: clusterID(resp.Header.ClusterId)}
		if err := resp.Err(); err != nil {
			b.Err = c.describe("watch "+spans[span].Describe(), cancelReason(err))
			b.CompactRevision = resp.CompactRevision
		} else if resp.Canceled {
			b.Err = &Error{Msg: "watch " + spans[span].Describe() + ": canceled by etcd"}
		}
		for _, ev := range resp.Events {
			b.Events = append(b.Events, snapshot.Event{
				Revision: ev.Kv.ModRevision,
				Key:      string(ev.Kv.Key),
				Value:    string(ev.Kv.Value),
				Delete:   ev.Type == clientv3.EventTypeDelete,
			})
		}
		if received != nil && len(b.Events) > 0 {
			received(len(b.Events))
		}
		s.push(b)
		if b.Err != nil {
			// The client closes a watch after its error; stop listening
			// to it, and let the other spans go on.
			end(chosen)
		}
	}
}

// cancelReason turns the reason etcd gave for canceling a watch into the
// client's error value: the client passes it on as plain text, the text
// of a gRPC status ("rpc error: code = PermissionDenied desc = etcdserver:
// permission denied").
func cancelReason(err error) error {
	msg := err.Error()
	if _, ok := status.FromError(err); ok || !strings.HasPrefix(msg, "rpc error: ") {
		return err
	}
	if _, desc, found := strings.Cut(msg, " desc = "); found {
		return rpctypes.Error(errors.New(desc))
	}
	return err
}

// RequestProgress asks etcd to send a progress notification on the watch
// stream of ctx (Stream.Context), to prove the stream is alive.
func (c *Client) RequestProgress(ctx context.Context) error {
	rctx, cancel := c.requestCtx(clientv3.WithRequireLeader(ctx))
	defer cancel()
	return c.describe("request watch progress", c.watcher.RequestProgress(rctx))
}

package etcd_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// testCtx is a context that ends with the test, bounded so that a hang
// fails the test instead of the whole run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connect connects a reconfig client to srv and closes it with the test.
func connect(t *testing.T, srv *embedded.Server, cfg etcd.Config) *etcd.Client {
	t.Helper()
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints = []string{srv.ClientURL}
	}
	c, err := etcd.Connect(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", cfg.Endpoints, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// load seeds srv with data and returns the revision.
func load(t *testing.T, srv *embedded.Server, data map[string]string) int64 {
	t.Helper()
	rev, err := srv.Load(testCtx(t), data)
	if err != nil {
		t.Fatalf("seed etcd: %v", err)
	}
	return rev
}

// txnHook watches the transactions the etcd server receives. It is a gRPC
// interceptor installed in the real server: it lets a test act (write,
// compact) at an exact point between the pages of a snapshot read, and
// count the reads, without replacing anything of etcd.
type txnHook struct {
	mu       sync.Mutex
	unpinned int // transactions whose range reads are not pinned to a revision
	pinned   int // transactions whose range reads are pinned with WithRev
	// beforePinned runs before the server handles a pinned transaction;
	// n counts the pinned transactions from 1.
	beforePinned func(ctx context.Context, rev int64, n int)
}

func (h *txnHook) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if tr, ok := req.(*pb.TxnRequest); ok && len(tr.Success) > 0 {
		var rev int64
		for _, op := range tr.Success {
			if r := op.GetRequestRange(); r != nil && r.Revision > 0 {
				rev = r.Revision
			}
		}
		h.mu.Lock()
		fn := h.beforePinned
		n := 0
		if rev > 0 {
			h.pinned++
			n = h.pinned
		} else {
			h.unpinned++
		}
		h.mu.Unlock()
		if rev > 0 && fn != nil {
			fn(ctx, rev, n)
		}
	}
	return handler(ctx, req)
}

func (h *txnHook) set(fn func(ctx context.Context, rev int64, n int)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beforePinned = fn
	h.pinned, h.unpinned = 0, 0
}

func (h *txnHook) counts() (unpinned, pinned int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unpinned, h.pinned
}

// startHooked starts an etcd whose transactions pass through a txnHook.
func startHooked(t *testing.T) (*embedded.Server, *txnHook) {
	t.Helper()
	h := &txnHook{}
	srv := etcdtest.Start(t, embedded.Options{ConfigHook: func(cfg *embed.Config) {
		cfg.GRPCAdditionalServerOptions = append(cfg.GRPCAdditionalServerOptions, grpc.ChainUnaryInterceptor(h.intercept))
	}})
	return srv, h
}

// kvMap turns key/values into a map, failing on duplicates.
func kvMap(t *testing.T, kvs []snapshot.KV) map[string]string {
	t.Helper()
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[kv.Key]; dup {
			t.Fatalf("key %q read twice", kv.Key)
		}
		m[kv.Key] = kv.Value
	}
	return m
}

// snapshotKVs returns every key/value of the snapshot and checks that each
// span is sorted and holds only keys of its range.
func snapshotKVs(t *testing.T, s *snapshot.Snapshot) map[string]string {
	t.Helper()
	var kvs []snapshot.KV
	for _, sp := range s.Spans {
		first := len(kvs)
		for kv := range sp.All() {
			if kv.Key < sp.Start || kv.Key >= sp.End {
				t.Fatalf("key %q outside its span [%q, %q)", kv.Key, sp.Start, sp.End)
			}
			if len(kvs) > first && kvs[len(kvs)-1].Key >= kv.Key {
				t.Fatalf("span [%q, %q) not sorted at %q", sp.Start, sp.End, kv.Key)
			}
			kvs = append(kvs, kv)
		}
	}
	return kvMap(t, kvs)
}

// inSpans keeps the entries of data that lie in the spans' ranges.
func inSpans(data map[string]string, spans []snapshot.Span) map[string]string {
	out := map[string]string{}
	for k, v := range data {
		for _, sp := range spans {
			if sp.Start <= k && k < sp.End {
				out[k] = v
				break
			}
		}
	}
	return out
}

// diffMaps describes how got differs from want, at most a few entries.
func diffMaps(got, want map[string]string) []string {
	var d []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			d = append(d, "missing "+k+"="+w)
		} else if g != w {
			d = append(d, "wrong "+k+"="+g+", want "+w)
		}
		if len(d) >= 10 {
			return d
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			d = append(d, "extra "+k+"="+g)
		}
		if len(d) >= 10 {
			return d
		}
	}
	return d
}

// batches turns a watch stream into a channel of its batches, closed when
// the stream ends.
func batches(s *etcd.Stream) <-chan etcd.Batch {
	ch := make(chan etcd.Batch)
	go func() {
		defer close(ch)
		for b := range s.All() {
			ch <- b
		}
	}()
	return ch
}

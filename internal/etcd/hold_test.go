package etcd_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// A first set that etcd applied but never confirmed (the connection broke
// before its answer, as when etcd is killed with the request in flight) is
// not the end of the hold: Hold says so, sets the key again on a lease of
// its own and holds it, and revokes that lease as it ends.
func TestHoldFirstSetUnanswered(t *testing.T) {
	var broke atomic.Bool
	srv := etcdtest.Start(t, embedded.Options{ConfigHook: func(cfg *embed.Config) {
		cfg.GRPCAdditionalServerOptions = append(cfg.GRPCAdditionalServerOptions, grpc.ChainUnaryInterceptor(
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
				resp, err := handler(ctx, req)
				if _, put := req.(*pb.PutRequest); put && err == nil && broke.CompareAndSwap(false, true) {
					return nil, status.Error(codes.Unavailable, "the connection broke before the answer")
				}
				return resp, err
			}))
	}})
	c := connect(t, srv, etcd.Config{})
	const key, value = "/services/web/node-1", "10.0.0.1:8080"
	ctx, stop := context.WithCancel(testCtx(t))
	events := make(chan etcd.HoldEvent, 16)
	ended := make(chan error, 1)
	go func() {
		ended <- c.Hold(ctx, key, value, 5*time.Second, func(e etcd.HoldEvent) { events <- e })
	}()
	next := func() etcd.HoldEvent {
		t.Helper()
		select {
		case e := <-events:
			return e
		case err := <-ended:
			t.Fatalf("Hold ended (%v) while it should hold the key", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no event from Hold within 30s")
		}
		return etcd.HoldEvent{}
	}
	if e := next(); e.Kind != etcd.HoldRetry || e.Lease != 0 || e.Err == nil {
		t.Fatalf("first event %+v, want a retry of a key never held, with the error", e)
	}
	set := next()
	if set.Kind != etcd.HoldSet || set.Lease == 0 {
		t.Fatalf("second event %+v, want the key held on a lease", set)
	}
	entries, _, err := c.List(ctx, key)
	if err != nil || len(entries) != 1 || entries[0].Value != value || entries[0].Lease != set.Lease {
		t.Fatalf("%s: %+v (%v), want %s on lease %x", key, entries, err, value, set.Lease)
	}
	stop()
	if err := <-ended; err != nil {
		t.Fatalf("Hold ended with %v", err)
	}
	if e := next(); e.Kind != etcd.HoldReleased || e.Lease != set.Lease {
		t.Fatalf("last event %+v, want lease %x released", e, set.Lease)
	}
	if entries, _, err := c.List(context.Background(), key); err != nil || len(entries) != 0 {
		t.Fatalf("%s after the hold: %+v (%v), want it deleted", key, entries, err)
	}
}

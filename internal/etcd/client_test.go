package etcd_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// freeEndpoint is a loopback URL where nothing listens.
func freeEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// connectResult is what Connect returned, and how long it took.
type connectResult struct {
	c       *etcd.Client
	err     error
	elapsed time.Duration
}

// connectAsync runs Connect and fails the test if it has not returned
// well after the dial timeout.
func connectAsync(t *testing.T, ctx context.Context, cfg etcd.Config) connectResult {
	t.Helper()
	done := make(chan connectResult, 1)
	start := time.Now()
	go func() {
		c, err := etcd.Connect(ctx, cfg)
		done <- connectResult{c, err, time.Since(start)}
	}()
	select {
	case r := <-done:
		if r.c != nil {
			t.Cleanup(func() { r.c.Close() })
		}
		return r
	case <-time.After(cfg.DialTimeout + 15*time.Second):
		t.Fatalf("Connect(%v) has not returned %v after the dial timeout", cfg.Endpoints, 15*time.Second)
		return connectResult{}
	}
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	down := freeEndpoint(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		cfg      etcd.Config
		wantMsg  []string
		wantHint string
	}{
		{
			name:     "nothing listens at the endpoint",
			ctx:      context.Background(),
			cfg:      etcd.Config{Endpoints: []string{down}, DialTimeout: time.Second},
			wantMsg:  []string{"cannot reach etcd at " + down, "connection refused"},
			wantHint: "check --endpoints and that etcd is running",
		},
		{
			name:     "two endpoints, both down",
			ctx:      context.Background(),
			cfg:      etcd.Config{Endpoints: []string{down, freeEndpoint(t)}, DialTimeout: time.Second},
			wantMsg:  []string{"cannot reach etcd at " + down + ",http://127.0.0.1:", "connection refused"},
			wantHint: "check --endpoints",
		},
		{
			name:     "no endpoint",
			ctx:      context.Background(),
			cfg:      etcd.Config{},
			wantMsg:  []string{"no etcd endpoint given"},
			wantHint: "--endpoints",
		},
		{
			name:    "canceled",
			ctx:     canceled,
			cfg:     etcd.Config{Endpoints: []string{down}, DialTimeout: time.Second},
			wantMsg: []string{"canceled"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := connectAsync(t, tt.ctx, tt.cfg)
			t.Logf("Connect returned after %v: %v", r.elapsed.Round(time.Millisecond), r.err)
			var e *etcd.Error
			if !errors.As(r.err, &e) {
				t.Fatalf("Connect error = %#v, want an *etcd.Error", r.err)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(e.Error(), w) {
					t.Errorf("error %q does not say %q", e, w)
				}
			}
			if !strings.Contains(hint.Of(r.err), tt.wantHint) {
				t.Errorf("hint %q does not say %q", hint.Of(r.err), tt.wantHint)
			}
			for _, bad := range []string{"rpc error", "desc =", "context deadline exceeded"} {
				if strings.Contains(e.Error(), bad) {
					t.Errorf("error %q leaks %q", e, bad)
				}
			}
		})
	}
}

// TestEtcdGoesAway stops etcd under a connected client: every kind of
// request fails, in time, with an *etcd.Error that names the endpoint or
// the key and carries no gRPC text.
func TestEtcdGoesAway(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{CommandTimeout: 500 * time.Millisecond})
	load(t, srv, map[string]string{"/app/a": "1"})
	ctx := testCtx(t)
	if _, err := c.Get(ctx, "/app/a"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	tests := []struct {
		name string
		call func() error
		want []string
	}{
		{"get", func() error { _, err := c.Get(ctx, "/app/a"); return err }, []string{"get /app/a: etcd at " + srv.ClientURL}},
		{"snapshot", func() error {
			_, _, err := c.Snapshot(ctx, []snapshot.Selector{{Key: "/app", Recursive: true}})
			return err
		}, []string{"read snapshot: etcd at " + srv.ClientURL}},
		{"put", func() error { _, err := c.Put(ctx, "/app/b", "2", 0); return err }, []string{"set /app/b: etcd at " + srv.ClientURL}},
		{"delete", func() error { _, err := c.Delete(ctx, "/app", true); return err }, []string{"delete /app: etcd at " + srv.ClientURL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.call()
			var e *etcd.Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %#v, want an *etcd.Error", err)
			}
			t.Logf("after %v: %v (hint: %s)", time.Since(start).Round(time.Millisecond), e, hint.Of(err))
			for _, w := range tt.want {
				if !strings.Contains(e.Error(), w) {
					t.Errorf("error %q does not say %q", e, w)
				}
			}
			if hint.Of(err) == "" {
				t.Errorf("error %q has no hint", e)
			}
			for _, bad := range []string{"rpc error", "desc =", "code ="} {
				if strings.Contains(e.Error(), bad) {
					t.Errorf("error %q leaks %q", e, bad)
				}
			}
		})
	}
}

func TestClientAccessors(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{Prefix: "/ns/"})
	if got := c.Endpoints(); len(got) != 1 || got[0] != srv.ClientURL {
		t.Errorf("Endpoints() = %q, want [%s]", got, srv.ClientURL)
	}
	if c.Prefix() != "/ns" {
		t.Errorf("Prefix() = %q, want /ns", c.Prefix())
	}
}

package etcd_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// grpcText is what gRPC and its HTTP/2 transport say, which must never
// reach an operator.
var grpcText = []string{"rpc error", "desc =", "code =", "unexpected HTTP status code", "malformed header", "content-type", "transport:", "grpc", "context deadline exceeded"}

// An endpoint where something answers that is not etcd — an HTTP/2
// server (h2c), a plain HTTP/1 server — is named as not etcd, with no gRPC
// text, whether Connect or the first request finds out.
func TestNotEtcd(t *testing.T) {
	t.Parallel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	h2c := httptest.NewUnstartedServer(handler)
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetHTTP1(true)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	t.Cleanup(h2c.Close)
	h1 := httptest.NewServer(handler)
	t.Cleanup(h1.Close)

	for _, tc := range []struct {
		name     string
		endpoint string
	}{
		{name: "HTTP/2 without TLS", endpoint: h2c.URL},
		{name: "HTTP/1", endpoint: h1.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := connectAsync(t, context.Background(), etcd.Config{Endpoints: []string{tc.endpoint}, DialTimeout: 2 * time.Second, CommandTimeout: 2 * time.Second})
			err := r.err
			if err == nil {
				_, err = r.c.Get(context.Background(), "/k")
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("%v\nhint: %s", err, hint.Of(err))
			msg := err.Error() + "\n" + hint.Of(err)
			for _, bad := range grpcText {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(bad)) {
					t.Errorf("the error leaks %q", bad)
				}
			}
			if !strings.Contains(err.Error(), tc.endpoint+" is not etcd") {
				t.Errorf("error %q does not say %s is not etcd", err, tc.endpoint)
			}
			if !strings.Contains(hint.Of(err), "--endpoints") {
				t.Errorf("hint %q does not name --endpoints", hint.Of(err))
			}
		})
	}
}

// An https endpoint where etcd speaks plain HTTP is named as such, not as
// a certificate problem.
func TestHTTPSAgainstPlainEtcd(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	ep := "https://" + strings.TrimPrefix(srv.ClientURL, "http://")
	r := connectAsync(t, context.Background(), etcd.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, TLS: &tls.Config{}})
	if r.err == nil {
		t.Fatal("Connect succeeded")
	}
	t.Logf("%v\nhint: %s", r.err, hint.Of(r.err))
	if !strings.Contains(r.err.Error(), "speaks plain HTTP, not TLS") {
		t.Errorf("error %q does not say the endpoint speaks plain HTTP", r.err)
	}
	if h := hint.Of(r.err); strings.Contains(h, "--cacert") || !strings.Contains(h, "http://") {
		t.Errorf("hint %q: want one saying http://, not --cacert", h)
	}
}

// When every endpoint refuses the connection, Connect says so at once,
// not after the dial timeout.
func TestConnectRefusedFailsFast(t *testing.T) {
	t.Parallel()
	down := []string{freeEndpoint(t), freeEndpoint(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := etcd.Connect(ctx, etcd.Config{Endpoints: down, DialTimeout: time.Hour})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Connect: %v, want connection refused", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Connect to endpoints that refuse waited for the dial timeout (an hour)")
	}
}

package etcd_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// tokenTTL is etcd's --auth-token-ttl in these tests, in seconds.
const tokenTTL = 2

// awaitValue waits for an event that sets key to value.
func awaitValue(t *testing.T, ch <-chan etcd.Batch, key, value string) {
	t.Helper()
	collectEvents(t, ch, func(evs []snapshot.Event) bool {
		for _, ev := range evs {
			if ev.Key == key && ev.Value == value && !ev.Delete {
				return true
			}
		}
		return false
	})
}

// testTokenExpiry checks a client whose auth token expired, as a daemon's
// does when it idles longer than --auth-token-ttl: its next read succeeds
// within a --command-timeout far below the 10s it used to hang, a watch it
// opened before goes on, and a watch it opens after is created, also
// beside the older one. ep is an etcd with auth on, the users of
// setUpAuth, /app/a=1; awaitExpired waits until etcd dropped every token
// of reader.
func testTokenExpiry(t *testing.T, ep string, awaitExpired func()) {
	ctx := testCtx(t)
	cfg := etcd.Config{Endpoints: []string{ep}, Username: "reader", Password: "readpw", CommandTimeout: 3 * time.Second}
	// One client reads, one watches: each path meets an expired token
	// first.
	reads, watches := connect(t, nil, cfg), connect(t, nil, cfg)
	sels := []snapshot.Selector{{Key: "/app", Recursive: true}}
	snap, _, err := reads.Snapshot(ctx, sels)
	if err != nil {
		t.Fatal(err)
	}
	old := batches(watches.Watch(ctx, snap.Spans, nil))
	awaitValue(t, old, "/app/a", "1") // the seed, at the snapshot's revision

	awaitExpired()

	start := time.Now()
	got, err := reads.Get(ctx, "/app/a")
	if err != nil || got != "1" {
		t.Fatalf("read after the token expired: %q, %v; want \"1\"", got, err)
	}
	t.Logf("read after the token expired: %s", time.Since(start).Round(time.Millisecond))
	if _, _, err := reads.Snapshot(ctx, sels); err != nil {
		t.Fatalf("snapshot after the token expired: %v", err)
	}

	root := connect(t, nil, etcd.Config{Endpoints: []string{ep}, Username: "root", Password: "rootpw"})
	rev, err := root.Put(ctx, "/app/a", "2", 0)
	if err != nil {
		t.Fatal(err)
	}
	awaitValue(t, old, "/app/a", "2")
	spans := snap.Clone().Spans
	for i := range spans {
		spans[i].Rev = rev
	}
	start = time.Now()
	awaitValue(t, batches(watches.Watch(ctx, spans, nil)), "/app/a", "2")
	t.Logf("watch opened after the token expired: %s", time.Since(start).Round(time.Millisecond))
}

// TestTokenExpiry runs testTokenExpiry against an embedded etcd, whose log
// tells when it drops a token.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	logger, tokenLog := etcdtest.TokenLog()
	srv := etcdtest.Start(t, embedded.Options{Logger: logger, ConfigHook: func(cfg *embed.Config) { cfg.AuthTokenTTL = tokenTTL }})
	load(t, srv, map[string]string{"/app/a": "1"})
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/app/"})
	testTokenExpiry(t, srv.ClientURL, func() { etcdtest.AwaitTokensDropped(t, "reader", tokenLog, 30*time.Second) })
}

// TestTokenExpiryEtcd34 runs testTokenExpiry against Debian's etcd 3.4,
// which, unlike etcd 3.5 and later, checks the token sent along with a
// request for a new one: the etcd client sends the expired one and asks
// again after each refusal, until the request's deadline.
func TestTokenExpiryEtcd34(t *testing.T) {
	bin := etcdtest.Binary(t)
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "etcd.json")
	ep := etcdtest.StartBinary(t, bin, "--auth-token-ttl", strconv.Itoa(tokenTTL), "--log-level", "debug", "--log-outputs", logPath)
	seed := connect(t, nil, etcd.Config{Endpoints: []string{ep}})
	if _, err := seed.Put(testCtx(t), "/app/a", "1", 0); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuthAt(t, ep, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/app/"})
	testTokenExpiry(t, ep, func() {
		etcdtest.AwaitTokensDropped(t, "reader", func() []byte {
			b, _ := os.ReadFile(logPath)
			return b
		}, 30*time.Second)
	})
}

// A password changed while reconfig is connected (etcd drops the user's
// tokens at once) fails reads and new watches with reconfig's message,
// not gRPC's.
func TestPasswordChangedWhileConnected(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	load(t, srv, map[string]string{"/app/a": "1"})
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/app/"})
	c := connect(t, srv, etcd.Config{Username: "reader", Password: "readpw", CommandTimeout: 3 * time.Second})
	snap, _, err := c.Snapshot(ctx, []snapshot.Selector{{Key: "/app", Recursive: true}})
	if err != nil {
		t.Fatal(err)
	}
	etcdtest.ChangePassword(t, srv, "rootpw", "reader", "changed")

	const want = "authentication failed for user reader"
	check := func(what string, err error) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", what, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "rpc error") || strings.Contains(err.Error(), "etcdserver:")) {
			t.Errorf("%s: raw gRPC text: %v", what, err)
		}
	}
	_, err = c.Get(ctx, "/app/a")
	check("read", err)
	bs := waitClosed(t, batches(c.Watch(ctx, snap.Spans, nil)))
	if len(bs) == 0 {
		t.Fatal("watch: closed without a batch, want one with an error")
	}
	check("watch", bs[len(bs)-1].Err)
}

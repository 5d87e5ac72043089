package etcd_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/version"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

var treeData = map[string]string{
	"/dir":       "the dir key itself",
	"/dir/a/x":   "ax",
	"/dir/a/y":   "ay",
	"/dir/a-b":   "sorts before /dir/a/x, but its name after a",
	"/dir/b":     "b",
	"/dir/c/d/e": "cde",
	"/dir/empty": "",
	"/dir-old":   "sibling inside the range",
	"/dirx/z":    "sibling after the range",
}

func kv(k, v string) snapshot.KV { return snapshot.KV{Key: k, Value: v} }

func TestGet(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	load(t, srv, treeData)
	tests := []struct {
		name    string
		key     string
		want    string
		wantErr string
	}{
		{name: "value", key: "/dir/b", want: "b"},
		{name: "empty value is not missing", key: "/dir/empty", want: ""},
		{name: "a directory key with a value", key: "/dir", want: "the dir key itself"},
		{name: "missing key", key: "/nope", wantErr: "key not found: /nope"},
		{name: "a directory with no value of its own", key: "/dir/a", wantErr: "key not found: /dir/a"},
		{name: "no prefix match", key: "/di", wantErr: "key not found: /di"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Get(testCtx(t), tt.key)
			if tt.wantErr != "" {
				var nf *etcd.NotFoundError
				if !errors.As(err, &nf) || err.Error() != tt.wantErr || nf.Key != tt.key {
					t.Fatalf("Get(%s) = %q, %v; want NotFoundError %q", tt.key, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Get(%s) = %q, %v; want %q", tt.key, got, err, tt.want)
			}
		})
	}
}

func TestChildren(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	load(t, srv, treeData)
	tests := []struct {
		name string
		key  string
		want []string
	}{
		{name: "direct children only, each once, sorted", key: "/dir", want: []string{"/dir/a", "/dir/a-b", "/dir/b", "/dir/c", "/dir/empty"}},
		{name: "trailing slash", key: "/dir/", want: []string{"/dir/a", "/dir/a-b", "/dir/b", "/dir/c", "/dir/empty"}},
		{name: "one level down", key: "/dir/a", want: []string{"/dir/a/x", "/dir/a/y"}},
		{name: "deep chain", key: "/dir/c", want: []string{"/dir/c/d"}},
		{name: "root", key: "/", want: []string{"/dir", "/dir-old", "/dirx"}},
		{name: "a leaf has none", key: "/dir/b", want: nil},
		{name: "missing", key: "/nope", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Children(testCtx(t), tt.key)
			if err != nil {
				t.Fatalf("Children(%s): %v", tt.key, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Children(%s) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestGetTree(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	load(t, srv, treeData)
	tests := []struct {
		name string
		sel  snapshot.Selector
		want []snapshot.KV
	}{
		{
			name: "recursive: the key and everything under it, not its siblings",
			sel:  snapshot.Selector{Key: "/dir", Recursive: true},
			want: []snapshot.KV{kv("/dir", "the dir key itself"), kv("/dir/a-b", "sorts before /dir/a/x, but its name after a"), kv("/dir/a/x", "ax"), kv("/dir/a/y", "ay"), kv("/dir/b", "b"), kv("/dir/c/d/e", "cde"), kv("/dir/empty", "")},
		},
		{
			name: "recursive below",
			sel:  snapshot.Selector{Key: "/dir/a/", Recursive: true},
			want: []snapshot.KV{kv("/dir/a/x", "ax"), kv("/dir/a/y", "ay")},
		},
		{
			name: "single key",
			sel:  snapshot.Selector{Key: "/dir-old"},
			want: []snapshot.KV{kv("/dir-old", "sibling inside the range")},
		},
		{
			name: "nothing there",
			sel:  snapshot.Selector{Key: "/nope", Recursive: true},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.GetTree(testCtx(t), tt.sel)
			if err != nil {
				t.Fatalf("GetTree(%+v): %v", tt.sel, err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Fatalf("GetTree(%+v) = %q, want %q", tt.sel, got, tt.want)
			}
		})
	}
}

// TestPutTTL sets a key with a lease: it is readable at once and gone
// after the lease expires, while a key without a TTL stays.
func TestPutTTL(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	rev, err := c.Put(ctx, "/lease/short", "soon gone", 1)
	if err != nil {
		t.Fatalf("Put with ttl: %v", err)
	}
	if _, err := c.Put(ctx, "/lease/forever", "stays", 0); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if now, _ := srv.Revision(ctx); rev <= 0 || rev >= now {
		t.Errorf("Put returned revision %d; the next put made %d", rev, now)
	}
	if v, err := c.Get(ctx, "/lease/short"); err != nil || v != "soon gone" {
		t.Fatalf("Get right after Put = %q, %v", v, err)
	}
	start := time.Now()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.Get(ctx, "/lease/short")
		var nf *etcd.NotFoundError
		if errors.As(err, &nf) {
			break
		}
		if err != nil {
			t.Fatalf("Get while waiting for expiry: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the key with a 1s lease still exists after 15s")
		}
		<-tick.C
	}
	t.Logf("the 1s lease expired after %v", time.Since(start).Round(time.Millisecond))
	if v, err := c.Get(ctx, "/lease/forever"); err != nil || v != "stays" {
		t.Errorf("key without ttl = %q, %v after the lease expired", v, err)
	}
}

// TestDelete deletes, each case under its own --prefix namespace so that
// every case sees the same tree.
func TestDelete(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	plain := connect(t, srv, etcd.Config{})
	tree := map[string]string{
		"/app": "1", "/app/a": "2", "/app/b/c": "3",
		"/apple": "4", "/app-old": "5", "/ap": "6",
	}
	tests := []struct {
		name      string
		key       string
		recursive bool
		wantN     int64
		wantLeft  []string
	}{
		{name: "recursive: the key and its tree, not /apple", key: "/app", recursive: true, wantN: 3, wantLeft: []string{"/ap", "/app-old", "/apple"}},
		{name: "recursive with trailing slash is the same", key: "/app/", recursive: true, wantN: 3, wantLeft: []string{"/ap", "/app-old", "/apple"}},
		{name: "recursive below", key: "/app/b", recursive: true, wantN: 1, wantLeft: []string{"/ap", "/app", "/app-old", "/app/a", "/apple"}},
		{name: "single key leaves its tree", key: "/app", wantN: 1, wantLeft: []string{"/ap", "/app-old", "/app/a", "/app/b/c", "/apple"}},
		{name: "missing key", key: "/nope", wantN: 0, wantLeft: []string{"/ap", "/app", "/app-old", "/app/a", "/app/b/c", "/apple"}},
		{name: "missing tree", key: "/nope", recursive: true, wantN: 0, wantLeft: []string{"/ap", "/app", "/app-old", "/app/a", "/app/b/c", "/apple"}},
		{name: "root", key: "/", recursive: true, wantN: 6, wantLeft: nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			ns := fmt.Sprintf("/case%d", i)
			seed := map[string]string{}
			for k, v := range tree {
				seed[ns+k] = v
			}
			load(t, srv, seed)
			c := connect(t, srv, etcd.Config{Prefix: ns})
			n, err := c.Delete(ctx, tt.key, tt.recursive)
			if err != nil {
				t.Fatalf("Delete(%s, %v): %v", tt.key, tt.recursive, err)
			}
			if n != tt.wantN {
				t.Errorf("Delete(%s, %v) = %d deleted, want %d", tt.key, tt.recursive, n, tt.wantN)
			}
			left, err := plain.GetTree(ctx, snapshot.Selector{Key: ns, Recursive: true})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, kv := range left {
				keys = append(keys, strings.TrimPrefix(kv.Key, ns))
			}
			if !reflect.DeepEqual(keys, tt.wantLeft) {
				t.Errorf("after Delete(%s, %v) left %q, want %q", tt.key, tt.recursive, keys, tt.wantLeft)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	rev := load(t, srv, map[string]string{"/a": "1"})
	sts, members, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(sts) != 1 {
		t.Fatalf("%d endpoint statuses, want 1: %+v", len(sts), sts)
	}
	st := sts[0]
	if st.Err != nil {
		t.Fatalf("status of %s: %v", st.Endpoint, st.Err)
	}
	if st.Endpoint != srv.ClientURL {
		t.Errorf("Endpoint = %q, want %q", st.Endpoint, srv.ClientURL)
	}
	if st.Version != version.Version {
		t.Errorf("Version = %q, want %q", st.Version, version.Version)
	}
	if !st.IsLeader || st.RaftTerm == 0 {
		t.Errorf("single member: IsLeader %v, RaftTerm %d; want the leader of a term", st.IsLeader, st.RaftTerm)
	}
	if st.Revision < rev || st.DBSize <= 0 {
		t.Errorf("Revision %d (want >= %d), DBSize %d", st.Revision, rev, st.DBSize)
	}
	snap, _, err := c.Snapshot(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.ClusterID != snap.ClusterID || len(st.ClusterID) != 16 {
		t.Errorf("ClusterID %q, snapshot says %q", st.ClusterID, snap.ClusterID)
	}
	if len(members) != 1 {
		t.Fatalf("%d members, want 1: %+v", len(members), members)
	}
	m := members[0]
	if m.ID != st.MemberID || m.Name != "reconfig" || m.IsLearner {
		t.Errorf("member %+v, want id %s named reconfig, not a learner", m, st.MemberID)
	}
	if !reflect.DeepEqual(m.ClientURLs, []string{srv.ClientURL}) || !reflect.DeepEqual(m.PeerURLs, []string{srv.PeerURL}) {
		t.Errorf("member URLs client %q peer %q, want %q and %q", m.ClientURLs, m.PeerURLs, srv.ClientURL, srv.PeerURL)
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	first := load(t, srv, map[string]string{"/app/a": "1"})
	var rev int64
	for i := range 3 {
		var err error
		if rev, err = c.Put(ctx, "/app/a", fmt.Sprint(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Compact(ctx, rev); err != nil {
		t.Fatalf("Compact(%d): %v", rev, err)
	}
	// History before rev is gone: a watch from there is told so.
	spans := snapshot.Cover([]snapshot.Selector{{Key: "/app", Recursive: true}})
	spans[0].Rev = first
	batches := waitClosed(t, batches(c.Watch(ctx, spans, nil)))
	if len(batches) == 0 || !errors.Is(batches[0].Err, etcd.ErrCompacted) || batches[0].CompactRevision != rev {
		t.Fatalf("watch from %d after Compact(%d) = %+v, want ErrCompacted at %d", first+1, rev, batches, rev)
	}
	// The data itself is kept.
	if v, err := c.Get(ctx, "/app/a"); err != nil || v != "2" {
		t.Errorf("Get after Compact = %q, %v; want 2", v, err)
	}
	// Compacting again at the same revision, or past the store, is an
	// error in reconfig's words.
	for _, bad := range []int64{rev, rev + 100} {
		err := c.Compact(ctx, bad)
		var e *etcd.Error
		if !errors.As(err, &e) || !strings.Contains(e.Error(), fmt.Sprintf("compact to revision %d", bad)) || strings.Contains(e.Error(), "rpc error") || strings.Contains(e.Error(), "etcdserver:") {
			t.Errorf("Compact(%d) = %v, want an *etcd.Error naming the revision", bad, err)
		} else {
			t.Logf("Compact(%d): %v", bad, e)
		}
	}
}

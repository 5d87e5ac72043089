package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// write is one change a test made to etcd, with the revision etcd gave it.
type write struct {
	rev    int64
	key    string
	value  string
	delete bool
}

// writeLog records writes made from several goroutines.
type writeLog struct {
	mu     sync.Mutex
	writes []write
}

func (l *writeLog) add(w write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, w)
}

// stateAt is the data etcd held at rev: seed plus every logged write up to
// rev, in revision order.
func (l *writeLog) stateAt(seed map[string]string, rev int64) map[string]string {
	l.mu.Lock()
	ws := append([]write(nil), l.writes...)
	l.mu.Unlock()
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].rev < ws[j].rev })
	out := make(map[string]string, len(seed))
	for k, v := range seed {
		out[k] = v
	}
	for _, w := range ws {
		if w.rev > rev {
			break
		}
		if w.delete {
			delete(out, w.key)
		} else {
			out[w.key] = w.value
		}
	}
	return out
}

func (l *writeLog) after(rev int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.writes {
		if w.rev > rev {
			n++
		}
	}
	return n
}

// TestSnapshotOneRevision reads thousands of keys across many prefixes —
// several transactions, several pages of the biggest prefix — while
// another goroutine keeps writing into the ranges being read, and while
// the test itself writes between the pages at exact points. The snapshot
// must be exactly etcd's data as of snapshot.Revision: nothing newer,
// nothing missing.
func TestSnapshotOneRevision(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv, hook := startHooked(t)
	c := connect(t, srv, etcd.Config{})

	// 200 recursive prefixes of 30 keys, one of them with 3,000 more
	// (paged), and 20 single keys: 220 ranges, so two batches of up to 128.
	seed := map[string]string{}
	var sels []snapshot.Selector
	for p := range 200 {
		prefix := fmt.Sprintf("/w%03d", p)
		sels = append(sels, snapshot.Selector{Key: prefix, Recursive: true})
		n := 30
		if p == 7 {
			n = 3030
		}
		for k := range n {
			seed[fmt.Sprintf("%s/k%04d", prefix, k)] = "seed"
		}
	}
	for i := range 20 {
		key := fmt.Sprintf("/single/%02d", i)
		sels = append(sels, snapshot.Selector{Key: key})
		seed[key] = "seed"
	}
	// The own key of a recursive read, and neighbours that no selector
	// reads and that sort between /w005 and /w005/: inside its span.
	seed["/w005"] = "seed"
	seed["/w005-old"] = "seed"
	seed["/w005-old/x"] = "seed"
	load(t, srv, seed)

	var log writeLog
	put := func(key, value string) {
		rev, err := srv.Put(ctx, key, value)
		if err != nil {
			t.Errorf("put %s: %v", key, err)
			return
		}
		log.add(write{rev: rev, key: key, value: value})
	}
	del := func(key string) {
		rev, err := srv.Delete(ctx, key, false)
		if err != nil {
			t.Errorf("delete %s: %v", key, err)
			return
		}
		log.add(write{rev: rev, key: key, delete: true})
	}

	// Before every pinned read, change keys already read, keys not read
	// yet, and add keys to the end of the paged prefix.
	hook.set(func(ctx context.Context, rev int64, n int) {
		put("/w000/k0000", fmt.Sprintf("between-pages-%d", n)) // read in the first batch
		put("/w199/k0001", fmt.Sprintf("between-pages-%d", n)) // read in a later batch
		del("/w198/k0002")
		put("/w007/k3029", fmt.Sprintf("between-pages-%d", n)) // last page of /w007
		put(fmt.Sprintf("/w007/zz%d", n), "new")               // sorts after every /w007 key
		put("/single/19", fmt.Sprintf("between-pages-%d", n))
	})

	// A writer that never stops while the snapshot is read: every value
	// says when it was written.
	stop := make(chan struct{})
	wrote := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := rand.New(rand.NewPCG(7, 7))
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("/w%03d/k%04d", r.IntN(200), r.IntN(40))
			switch {
			case seq%5 == 4:
				del(key)
			case seq%7 == 3:
				put(fmt.Sprintf("/single/%02d", r.IntN(20)), fmt.Sprintf("w%d", seq))
			default:
				put(key, fmt.Sprintf("w%d", seq))
			}
			if seq == 50 {
				close(wrote)
			}
		}
	}()
	select {
	case <-wrote:
	case <-ctx.Done():
		t.Fatal("the writer did not get going")
	}

	start := time.Now()
	snap, stats, err := c.Snapshot(ctx, sels)
	elapsed := time.Since(start)
	unpinned, pinned := hook.counts()
	close(stop)
	<-done
	hook.set(nil)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	t.Logf("snapshot of %d keys in %d ranges: %d round trips (%d unpinned, %d pinned), %d writes after its revision, %v",
		stats.Keys, stats.Ranges, stats.RoundTrips, unpinned, pinned, log.after(snap.Revision), elapsed)

	if pinned < 2 {
		t.Fatalf("only %d pinned reads: the test did not read across several transactions", pinned)
	}
	if unpinned != 1 {
		t.Errorf("%d reads were not pinned to a revision, want only the first", unpinned)
	}
	if log.after(snap.Revision) < 6*pinned {
		t.Fatalf("only %d writes landed after the snapshot revision; the read did not race with writes", log.after(snap.Revision))
	}
	want := inSpans(log.stateAt(seed, snap.Revision), snap.Spans)
	got := snapshotKVs(t, snap)
	if d := diffMaps(got, want); len(d) > 0 {
		t.Fatalf("snapshot at revision %d is not etcd's data at that revision:\n%s", snap.Revision, strings.Join(d, "\n"))
	}
	if stats.Keys != len(got) {
		t.Errorf("ReadStats.Keys = %d, snapshot holds %d", stats.Keys, len(got))
	}
	for _, sel := range sels {
		kvs, err := snap.Select(sel)
		if err != nil {
			t.Fatalf("Select(%+v): %v", sel, err)
		}
		for _, kv := range kvs {
			if !sel.Match(kv.Key) {
				t.Errorf("Select(%+v) returned %s", sel, kv.Key)
			}
		}
	}
	// /w005-old lies in the span of /w005, [/w005, /w0050): it is read
	// and stored, but a binding of /w005 never sees it; /w005 itself it
	// does, first.
	for _, k := range []string{"/w005-old", "/w005-old/x"} {
		if _, ok := got[k]; !ok {
			t.Errorf("the span of /w005 was read without %s", k)
		}
	}
	w005 := snapshot.Selector{Key: "/w005", Recursive: true}
	kvs, err := snap.Select(w005)
	if err != nil || len(kvs) < 31 || kvs[0].Key != "/w005" {
		t.Errorf("Select of /w005 = %d keys %q, %v; want /w005 itself, then its 30 keys", len(kvs), kvs, err)
	}
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, "/w005-old") {
			t.Errorf("Select of /w005 returned the neighbour %s", kv.Key)
		}
	}

	// The model of what etcd holds is right: a fresh read after the writers
	// stopped equals every write applied.
	after, _, err := c.Snapshot(ctx, sels)
	if err != nil {
		t.Fatalf("second Snapshot: %v", err)
	}
	if d := diffMaps(snapshotKVs(t, after), inSpans(log.stateAt(seed, after.Revision), after.Spans)); len(d) > 0 {
		t.Fatalf("second snapshot differs from the writes:\n%s", strings.Join(d, "\n"))
	}
	if after.Revision <= snap.Revision {
		t.Errorf("second snapshot at %d, not after the first at %d", after.Revision, snap.Revision)
	}
}

// TestSnapshotRoundTrips checks the cost of a snapshot in round trips:
// the reads of many bindings are batched, and a big prefix is paged and
// read in full.
func TestSnapshotRoundTrips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		prefixes      int
		keysPerPrefix int
		// wantTrips is what the reads cost now; minTrips..maxTrips is the
		// bound they must stay in whatever the batching.
		wantTrips int
		minTrips  int
		maxTrips  int
	}{
		// 200 ranges (one per binding): a batch of 128, then one of 72,
		// each range in one page of 512.
		{name: "200 recursive bindings, 10,000 keys", prefixes: 200, keysPerPrefix: 50, wantTrips: 2, minTrips: 1, maxTrips: 10},
		// One range, pages of 16,384: 50,001 keys (the neighbour too) in 4.
		{name: "one prefix of 50,000 keys is paged", prefixes: 1, keysPerPrefix: 50000, wantTrips: 4, minTrips: 2, maxTrips: 10},
	}
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			seed := map[string]string{}
			var sels []snapshot.Selector
			for p := range tt.prefixes {
				prefix := fmt.Sprintf("/t%d/svc%03d", i, p)
				sels = append(sels, snapshot.Selector{Key: prefix, Recursive: true})
				for k := range tt.keysPerPrefix {
					key := fmt.Sprintf("%s/k%05d", prefix, k)
					seed[key] = "v-" + key
				}
			}
			// A key that sorts between the last prefix and its keys
			// ('-' before '/'): inside its span, so read, never selected.
			neighbour := fmt.Sprintf("/t%d/svc%03d-old", i, tt.prefixes-1)
			seed[neighbour] = "read, not selected"
			start := time.Now()
			load(t, srv, seed)
			loaded := time.Since(start)

			start = time.Now()
			snap, stats, err := c.Snapshot(ctx, sels)
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			t.Logf("%d keys in %d ranges: %d round trips, read in %v (seeded in %v)",
				stats.Keys, stats.Ranges, stats.RoundTrips, time.Since(start), loaded)
			total := tt.prefixes * tt.keysPerPrefix
			if stats.RoundTrips < tt.minTrips || stats.RoundTrips > tt.maxTrips {
				t.Errorf("%d round trips, want %d..%d", stats.RoundTrips, tt.minTrips, tt.maxTrips)
			}
			if stats.RoundTrips != tt.wantTrips {
				t.Errorf("%d round trips, want %d", stats.RoundTrips, tt.wantTrips)
			}
			// One range per recursive read: its own key and the keys
			// under it together.
			if stats.Ranges != tt.prefixes || len(snap.Spans) != tt.prefixes {
				t.Errorf("ReadStats.Ranges = %d, %d spans; want %d", stats.Ranges, len(snap.Spans), tt.prefixes)
			}
			// Every key read once, the -old neighbour too: it shares the
			// last range.
			if stats.Keys != total+1 || snap.Len() != total+1 {
				t.Errorf("read %d keys, snapshot holds %d, want %d", stats.Keys, snap.Len(), total+1)
			}
			if v, ok, err := snap.Get(neighbour); err != nil || !ok || v != seed[neighbour] {
				t.Errorf("Get(%s) = %q %v %v, want the neighbour stored in the span", neighbour, v, ok, err)
			}
			var selected []snapshot.KV
			for _, sel := range sels {
				kvs, err := snap.Select(sel)
				if err != nil {
					t.Fatalf("Select(%+v): %v", sel, err)
				}
				if len(kvs) != tt.keysPerPrefix {
					t.Errorf("Select(%s) = %d keys, want %d", sel.Key, len(kvs), tt.keysPerPrefix)
				}
				selected = append(selected, kvs...)
			}
			// Selected: every key of the bindings, once, and not the
			// neighbour.
			got := kvMap(t, selected)
			delete(seed, neighbour)
			if d := diffMaps(got, seed); len(d) > 0 {
				t.Fatalf("snapshot differs from the data:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// TestSnapshotRestartsAfterCompaction compacts etcd past the snapshot's
// revision between its first and second transaction: the pinned read
// fails with ErrCompacted and the snapshot starts over at a newer
// revision, returning data of that revision.
func TestSnapshotRestartsAfterCompaction(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv, hook := startHooked(t)
	c := connect(t, srv, etcd.Config{})
	seed := map[string]string{}
	var sels []snapshot.Selector
	for i := range 140 { // 140 ranges: two transactions, of 128 and 12
		key := fmt.Sprintf("/s%03d", i)
		sels = append(sels, snapshot.Selector{Key: key, Recursive: true})
		seed[key+"/k"] = "before"
	}
	load(t, srv, seed)

	tests := []struct {
		name string
		// compactions is how many pinned reads find their revision compacted.
		compactions int
		wantErr     bool
		wantTrips   int
	}{
		// The first attempt fails at its second transaction (2 round
		// trips), the second reads both (2).
		{name: "one compaction mid-read: restart and succeed", compactions: 1, wantTrips: 4},
		// Five attempts, each failing at its second transaction.
		{name: "compacted on every attempt: give up with ErrCompacted", compactions: 1000, wantErr: true, wantTrips: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var compactedAt int64
			hook.set(func(ctx context.Context, rev int64, n int) {
				if n > tt.compactions {
					return
				}
				// A write the restarted snapshot must see, then a
				// compaction past the pinned revision.
				r, err := srv.Put(ctx, "/s000/k", fmt.Sprintf("after-compaction-%d", n))
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
				if err := srv.Compact(ctx, r); err != nil {
					t.Errorf("compact at %d: %v", r, err)
				}
				compactedAt = r
			})
			defer hook.set(nil)
			snap, stats, err := c.Snapshot(ctx, sels)
			unpinned, pinned := hook.counts()
			t.Logf("%d round trips, %d attempts, %d pinned reads, err %v", stats.RoundTrips, unpinned, pinned, err)
			if stats.RoundTrips != tt.wantTrips {
				t.Errorf("%d round trips, want %d", stats.RoundTrips, tt.wantTrips)
			}
			if tt.wantErr {
				var e *etcd.Error
				if !errors.As(err, &e) || !errors.Is(err, etcd.ErrCompacted) {
					t.Fatalf("Snapshot error = %#v, want an *etcd.Error wrapping ErrCompacted", err)
				}
				if want := "read snapshot: the revision was compacted"; err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
				if unpinned != 5 {
					t.Errorf("%d attempts, want 5", unpinned)
				}
				return
			}
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			if unpinned != 2 {
				t.Errorf("%d attempts, want 2 (one restart)", unpinned)
			}
			if snap.Revision < compactedAt {
				t.Errorf("snapshot revision %d is below the compaction at %d", snap.Revision, compactedAt)
			}
			if v, ok, err := snap.Get("/s000/k"); err != nil || !ok || v != "after-compaction-1" {
				t.Errorf("/s000/k = %q %v %v, want the value written before the compaction", v, ok, err)
			}
			if snap.Len() != 140 {
				t.Errorf("snapshot holds %d keys, want 140 (no key twice from the failed attempt)", snap.Len())
			}
		})
	}
}

// TestSnapshotRecursiveSiblings: a recursive /app selects /app itself and
// the keys under /app/, in key order, and nothing else — not /app-old,
// /app.d or /app\x00x, which sort between /app and /app/, nor /apple and
// /app0 after them — even when etcd holds them. The neighbours between
// /app and /app0 share its one range, so they are read and stored, but
// never selected; the ones after it are not read at all.
func TestSnapshotRecursiveSiblings(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	// inSpan are the neighbours in [/app, /app0); the other siblings lie
	// outside it.
	inSpan := map[string]string{
		"/app\x00x":  "neighbour",
		"/app-old":   "neighbour",
		"/app-old/x": "neighbour",
		"/app.d/x":   "neighbour",
	}
	load(t, srv, with(inSpan, map[string]string{
		"/ap":       "sibling",
		"/app":      "own key",
		"/app/":     "empty name",
		"/app/a":    "a",
		"/app/b/c":  "bc",
		"/app/z":    "z",
		"/app0":     "sibling",
		"/apple":    "sibling",
		"/apple/x":  "sibling",
		"/db":       "db",
		"/db-old":   "sibling",
		"/db/under": "sibling",
	}))
	want := []snapshot.KV{{Key: "/app", Value: "own key"}, {Key: "/app/", Value: "empty name"}, {Key: "/app/a", Value: "a"}, {Key: "/app/b/c", Value: "bc"}, {Key: "/app/z", Value: "z"}}
	// The snapshot holds exactly what its two ranges hold.
	wantStored := with(inSpan, map[string]string{"/db": "db"})
	for _, kv := range want {
		wantStored[kv.Key] = kv.Value
	}
	for _, key := range []string{"/app", "/app/"} {
		t.Run(key, func(t *testing.T) {
			sel := snapshot.Selector{Key: key, Recursive: true}
			snap, stats, err := c.Snapshot(ctx, []snapshot.Selector{sel, {Key: "/db"}})
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			got, err := snap.Select(sel)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Select(%+v) = %q, want %q", sel, got, want)
			}
			if stats.Ranges != 2 || stats.Keys != len(wantStored) {
				t.Errorf("read %d keys in %d ranges; want %d in 2: /app's span, neighbours included, and /db", stats.Keys, stats.Ranges, len(wantStored))
			}
			if d := diffMaps(snapshotKVs(t, snap), wantStored); len(d) > 0 {
				t.Errorf("the snapshot holds other keys than the ranges [/app, /app0) and /db:\n%s", strings.Join(d, "\n"))
			}
			// A neighbour is known to the snapshot (another binding could
			// read it), a sibling after the span is not.
			if v, ok, err := snap.Get("/app-old"); err != nil || !ok || v != "neighbour" {
				t.Errorf("Get(/app-old) = %q %v %v, want the neighbour read with the span", v, ok, err)
			}
			var nc *snapshot.ErrNotCovered
			if _, _, err := snap.Get("/apple"); !errors.As(err, &nc) {
				t.Errorf("Get(/apple) = %v, want ErrNotCovered", err)
			}
		})
	}
	// Without its own key, a recursive read still selects only the keys
	// under it.
	if _, err := srv.Delete(ctx, "/app", false); err != nil {
		t.Fatal(err)
	}
	sel := snapshot.Selector{Key: "/app", Recursive: true}
	snap, _, err := c.Snapshot(ctx, []snapshot.Selector{sel})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if got, err := snap.Select(sel); err != nil || !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("Select(%+v) without /app = %q, %v; want %q", sel, got, err, want[1:])
	}
}

// with returns a copy of data with more key/values.
func with(data map[string]string, more map[string]string) map[string]string {
	out := make(map[string]string, len(data)+len(more))
	for k, v := range data {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// TestSnapshotTooManyOps: a cluster run with a --max-txn-ops below the 128
// range reads of a batch refuses it; the snapshot halves the batch until
// etcd takes it (128, 64 refused; 32 taken) and reads everything.
func TestSnapshotTooManyOps(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t, embedded.Options{ConfigHook: func(cfg *embed.Config) { cfg.MaxTxnOps = 40 }})
	c := connect(t, srv, etcd.Config{})
	seed := map[string]string{}
	var sels []snapshot.Selector
	for p := range 200 {
		key := fmt.Sprintf("/m%03d", p)
		sels = append(sels, snapshot.Selector{Key: key, Recursive: true})
		seed[key+"/k"] = "v" + key
	}
	load(t, srv, seed)
	snap, stats, err := c.Snapshot(ctx, sels)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	// Two refused batches, then 200 ranges in batches of 32: 7.
	if stats.RoundTrips != 9 {
		t.Errorf("%d round trips, want 9", stats.RoundTrips)
	}
	if d := diffMaps(snapshotKVs(t, snap), seed); len(d) > 0 {
		t.Errorf("snapshot differs from the data:\n%s", strings.Join(d, "\n"))
	}
	if stats.Keys != len(seed) {
		t.Errorf("read %d keys, want %d: none twice from a refused batch", stats.Keys, len(seed))
	}
}

func TestSnapshotOfNothing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	rev := load(t, srv, map[string]string{"/a": "1", "/b": "2"})
	snap, stats, err := c.Snapshot(ctx, nil)
	if err != nil {
		t.Fatalf("Snapshot(nil): %v", err)
	}
	if snap.Revision != rev || snap.Len() != 0 || len(snap.Spans) != 0 {
		t.Errorf("Snapshot(nil) = revision %d, %d keys, %d spans; want revision %d and nothing else", snap.Revision, snap.Len(), len(snap.Spans), rev)
	}
	if len(snap.ClusterID) != 16 || strings.Trim(snap.ClusterID, "0") == "" {
		t.Errorf("ClusterID = %q, want 16 hex digits", snap.ClusterID)
	}
	if stats.RoundTrips != 1 {
		t.Errorf("%d round trips, want 1", stats.RoundTrips)
	}
}

// TestPrefix checks --prefix: keys under /p are read, written, deleted and
// watched without the prefix, and keys outside it are invisible.
func TestPrefix(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	plain := connect(t, srv, etcd.Config{})
	rev := load(t, srv, map[string]string{
		"/p/app/a":      "in-a",
		"/p/app/b/c":    "in-c",
		"/p/db":         "in-db",
		"/app/x":        "outside",
		"/app/a":        "outside",
		"/pother/app/a": "outside",
		"/db":           "outside",
	})
	for _, prefix := range []string{"/p", "/p/"} {
		t.Run(prefix, func(t *testing.T) {
			ctx := testCtx(t)
			c := connect(t, srv, etcd.Config{Prefix: prefix})
			if c.Prefix() != "/p" {
				t.Errorf("Prefix() = %q, want /p", c.Prefix())
			}
			sels := []snapshot.Selector{{Key: "/app", Recursive: true}, {Key: "/db"}}
			snap, _, err := c.Snapshot(ctx, sels)
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			want := map[string]string{"/app/a": "in-a", "/app/b/c": "in-c", "/db": "in-db"}
			if d := diffMaps(snapshotKVs(t, snap), want); len(d) > 0 {
				t.Errorf("snapshot under /p:\n%s", strings.Join(d, "\n"))
			}
			if snap.Prefix != "/p" || snap.Describe("/db") != "/p/db" {
				t.Errorf("snapshot Prefix %q, Describe(/db) %q; want /p and /p/db", snap.Prefix, snap.Describe("/db"))
			}
			if snap.Revision < rev {
				t.Errorf("revision %d, want at least %d", snap.Revision, rev)
			}

			var nf *etcd.NotFoundError
			if _, err := c.Get(ctx, "/app/x"); !errors.As(err, &nf) || err.Error() != "key not found: /app/x" {
				t.Errorf("Get(/app/x) under /p = %v, want key not found: /app/x", err)
			}
			if v, err := c.Get(ctx, "/db"); err != nil || v != "in-db" {
				t.Errorf("Get(/db) under /p = %q, %v; want in-db", v, err)
			}
			if kids, err := c.Children(ctx, "/app"); err != nil || strings.Join(kids, " ") != "/app/a /app/b" {
				t.Errorf("Children(/app) under /p = %q, %v", kids, err)
			}

			// Writes land under the prefix.
			key := "/new" + strings.ReplaceAll(prefix, "/", "_")
			if _, err := c.Put(ctx, key, "v", 0); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if v, err := plain.Get(ctx, "/p"+key); err != nil || v != "v" {
				t.Errorf("Put(%s) under /p: plain Get(/p%s) = %q, %v", key, key, v, err)
			}
			if _, err := plain.Get(ctx, key); err == nil {
				t.Errorf("Put(%s) under /p also wrote %s outside the prefix", key, key)
			}
			if n, err := c.Delete(ctx, key, false); err != nil || n != 1 {
				t.Errorf("Delete(%s) under /p = %d, %v; want 1", key, n, err)
			}

			// Watch: events of /p/app/... arrive as /app/..., and the same
			// key outside the prefix is not seen.
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch := batches(c.Watch(wctx, snap.Spans, nil))
			if _, err := srv.Put(ctx, "/app/w", "outside"); err != nil {
				t.Fatal(err)
			}
			wrote, err := srv.Put(ctx, "/p/app/w", "inside"+prefix)
			if err != nil {
				t.Fatal(err)
			}
			evs := collectEvents(t, ch, func(evs []snapshot.Event) bool {
				return slices.ContainsFunc(evs, func(ev snapshot.Event) bool { return ev.Revision == wrote })
			})
			for _, ev := range evs {
				// The watch starts at the snapshot revision, whose event
				// (the previous run's delete of /p/app/w) may come too.
				if ev.Revision < snap.Revision {
					t.Errorf("watch from %d delivered an older event %+v", snap.Revision, ev)
				}
				if ev.Revision > snap.Revision && (ev.Key != "/app/w" || ev.Value != "inside"+prefix) {
					t.Errorf("watch under /p saw %s = %q, want only /app/w = inside%s", ev.Key, ev.Value, prefix)
				}
				if strings.HasPrefix(ev.Key, "/p/") {
					t.Errorf("watch event key %q keeps the prefix", ev.Key)
				}
			}
			if _, err := srv.Delete(ctx, "/p/app/w", false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

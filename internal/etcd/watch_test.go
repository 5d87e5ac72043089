package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// collectBatches reads batches until done says so, failing the test on a
// batch with Err, a closed channel or a 15s deadline.
func collectBatches(t *testing.T, ch <-chan etcd.Batch, done func([]etcd.Batch) bool) []etcd.Batch {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	var got []etcd.Batch
	for !done(got) {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed after %d batches", len(got))
			}
			if b.Err != nil {
				t.Fatalf("watch batch with error: %v", b.Err)
			}
			got = append(got, b)
		case <-deadline.C:
			t.Fatalf("watch: still waiting after 15s; got %+v", got)
		}
	}
	return got
}

// collectEvents is collectBatches for the events alone, in arrival order.
func collectEvents(t *testing.T, ch <-chan etcd.Batch, done func([]snapshot.Event) bool) []snapshot.Event {
	t.Helper()
	var evs []snapshot.Event
	collectBatches(t, ch, func(bs []etcd.Batch) bool {
		evs = evs[:0]
		for _, b := range bs {
			evs = append(evs, b.Events...)
		}
		return done(evs)
	})
	return evs
}

// waitClosed waits for the watch channel to close, returning what came
// before.
func waitClosed(t *testing.T, ch <-chan etcd.Batch) []etcd.Batch {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	var got []etcd.Batch
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, b)
		case <-deadline.C:
			t.Fatalf("watch channel still open after 15s; got %+v", got)
		}
	}
}

// TestWatch opens a watch of a snapshot's spans after some changes were
// already made: it must deliver, per span and in revision order, every
// event from the span's Rev (the snapshot revision) on, puts and deletes,
// only for keys of the span — the own key of /app and the neighbour
// /app-old in the span [/app, /app0), never /apple after it. The snapshot
// updated with the events must equal a fresh read, whether the events are
// applied batch by batch as the daemon does, or all at once; and the
// binding of /app never sees /app-old.
func TestWatch(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	seed := map[string]string{"/app": "0", "/app/a": "0", "/app/b": "0", "/db": "0", "/apple": "0", "/app-old": "0"}
	seedRev := load(t, srv, seed)
	sels := []snapshot.Selector{{Key: "/app", Recursive: true}, {Key: "/db"}}
	snap, _, err := c.Snapshot(ctx, sels)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != seedRev || len(snap.Spans) != 2 {
		t.Fatalf("snapshot at %d with spans %#v, want revision %d and 2 spans ([/app, /app0), /db)", snap.Revision, snap.Spans, seedRev)
	}

	want := map[int][]snapshot.Event{} // per span index
	spanOf := func(key string) int {
		for i, sp := range snap.Spans {
			if sp.Start <= key && key < sp.End {
				return i
			}
		}
		return -1
	}
	expect := func(ev snapshot.Event) {
		if i := spanOf(ev.Key); i >= 0 {
			want[i] = append(want[i], ev)
		}
	}
	// The watch starts at each span's Rev, the snapshot revision: the
	// seed's events are the first it delivers (the snapshot holds them
	// already; ApplySpan drops them).
	for k, v := range seed {
		expect(snapshot.Event{Revision: seedRev, Key: k, Value: v})
	}
	put := func(key, value string) {
		t.Helper()
		rev, err := srv.Put(ctx, key, value)
		if err != nil {
			t.Fatal(err)
		}
		expect(snapshot.Event{Revision: rev, Key: key, Value: value})
	}
	del := func(key string) {
		t.Helper()
		rev, err := srv.Delete(ctx, key, false)
		if err != nil {
			t.Fatal(err)
		}
		expect(snapshot.Event{Revision: rev, Key: key, Delete: true})
	}

	// Before the watch opens.
	put("/app/a", "1")
	put("/apple", "outside: sorts after /app/")
	del("/app/b")
	put("/db", "1")
	put("/db/x", "outside: /db is read alone")
	put("/app-old", "neighbour: sorts between /app and /app/, in its span")
	put("/app", "1")
	rev, err := srv.Load(ctx, map[string]string{"/app/c": "txn", "/app/d": "txn"}) // one revision, two events
	if err != nil {
		t.Fatal(err)
	}
	expect(snapshot.Event{Revision: rev, Key: "/app/c", Value: "txn"})
	expect(snapshot.Event{Revision: rev, Key: "/app/d", Value: "txn"})

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := batches(c.Watch(wctx, snap.Spans, nil)) // spans are stamped with the snapshot revision

	// After it opened.
	put("/app/e", "2")
	del("/db")
	put("/app/a", "3")
	put("/zzz", "outside")
	del("/app")
	put("/app-old/x", "neighbour")
	put("/app/last", "end")

	if len(want[0]) < 14 || len(want[1]) < 3 {
		t.Fatalf("the test writes too little into some span: %v", want)
	}
	if !slices.ContainsFunc(want[0], func(ev snapshot.Event) bool { return ev.Key == "/app-old/x" }) {
		t.Fatalf("the neighbour /app-old/x is not in the span of /app %#v: the test proves nothing about neighbours", snap.Spans[0])
	}
	got := map[int][]snapshot.Event{}
	batches := collectBatches(t, ch, func(bs []etcd.Batch) bool {
		n := 0
		for _, b := range bs {
			n += len(b.Events)
		}
		return n >= len(want[0])+len(want[1])
	})
	for _, b := range batches {
		if len(b.Events) > 0 && b.Revision < b.Events[len(b.Events)-1].Revision {
			t.Errorf("batch revision %d is below its last event's %d", b.Revision, b.Events[len(b.Events)-1].Revision)
		}
		got[b.Span] = append(got[b.Span], b.Events...)
	}
	for i := range snap.Spans {
		for j := 1; j < len(got[i]); j++ {
			if got[i][j].Revision < got[i][j-1].Revision {
				t.Errorf("span %d: event at %d after one at %d", i, got[i][j].Revision, got[i][j-1].Revision)
			}
		}
		// Within one revision (one transaction) events come in the
		// transaction's order, which embedded.Load does not fix.
		for _, evs := range [][]snapshot.Event{got[i], want[i]} {
			sort.SliceStable(evs, func(a, b int) bool {
				return evs[a].Revision < evs[b].Revision || evs[a].Revision == evs[b].Revision && evs[a].Key < evs[b].Key
			})
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("span %d [%q, %q) events:\n got %+v\nwant %+v", i, snap.Spans[i].Start, snap.Spans[i].End, got[i], want[i])
		}
	}

	fresh, _, err := c.Snapshot(ctx, sels)
	if err != nil {
		t.Fatal(err)
	}
	// The daemon's way: each batch to its span, in arrival order.
	bySpan := snap.Clone()
	changed := 0
	for _, b := range batches {
		changed += len(bySpan.ApplySpan(b.Span, b.Events))
	}
	if changed == 0 {
		t.Errorf("ApplySpan reported no change")
	}
	// All events at once: batches of different spans are not ordered by
	// revision among themselves, and Apply routes them.
	var all []snapshot.Event
	for _, b := range batches {
		all = append(all, b.Events...)
	}
	atOnce := snap.Clone()
	if !atOnce.Apply(all) {
		t.Errorf("Apply reported no change")
	}
	for name, live := range map[string]*snapshot.Snapshot{"batch by batch": bySpan, "at once": atOnce} {
		if d := diffMaps(snapshotKVs(t, live), snapshotKVs(t, fresh)); len(d) > 0 {
			t.Errorf("snapshot + events (%s) differs from a fresh read:\n%s", name, strings.Join(d, "\n"))
		}
		// /app/last was the newest write, so both are at its revision.
		if live.Revision != fresh.Revision {
			t.Errorf("snapshot + events (%s) at revision %d, fresh read at %d", name, live.Revision, fresh.Revision)
		}
	}
	if _, ok := snapshotKVs(t, fresh)["/app"]; ok {
		t.Errorf("fresh read holds /app, which the test deleted: the comparison proves nothing")
	}
	// The neighbours' events are stored, but the binding of /app sees
	// only its own keys, as a fresh read does.
	sel := snapshot.Selector{Key: "/app", Recursive: true}
	wantKVs, err := fresh.Select(sel)
	if err != nil {
		t.Fatal(err)
	}
	for name, live := range map[string]*snapshot.Snapshot{"batch by batch": bySpan, "at once": atOnce} {
		if v, ok, err := live.Get("/app-old/x"); err != nil || !ok || v != "neighbour" {
			t.Errorf("snapshot + events (%s): /app-old/x = %q %v %v, want the neighbour stored", name, v, ok, err)
		}
		kvs, err := live.Select(sel)
		if err != nil || !reflect.DeepEqual(kvs, wantKVs) {
			t.Errorf("snapshot + events (%s): Select(/app) = %q, %v; want %q", name, kvs, err, wantKVs)
		}
		for _, kv := range kvs {
			if !sel.Match(kv.Key) {
				t.Errorf("snapshot + events (%s): Select(/app) returned %s", name, kv.Key)
			}
		}
	}
}

// TestWatchBatchByBatch applies the batches one at a time, as a daemon
// that re-renders on every batch does, while changes alternate between
// spans. The result must still equal a fresh read: an event must not be
// dropped because another span's batch with a newer revision came first.
func TestWatchBatchByBatch(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	sels := []snapshot.Selector{{Key: "/a", Recursive: true}, {Key: "/b", Recursive: true}}
	load(t, srv, map[string]string{"/a/0": "seed", "/b/0": "seed"})
	snap, _, err := c.Snapshot(ctx, sels)
	if err != nil {
		t.Fatal(err)
	}
	// History the watch catches up on, alternating spans ([/a, /a0) and
	// [/b, /b0), own keys included). last is each span's newest write.
	last := make([]int64, len(snap.Spans))
	for i := range 10 {
		for _, p := range []string{"/a", "/b"} {
			for _, key := range []string{fmt.Sprintf("%s/%d", p, i), p} {
				rev, err := srv.Put(ctx, key, fmt.Sprintf("v%d", i))
				if err != nil {
					t.Fatal(err)
				}
				j := slices.IndexFunc(snap.Spans, func(sp snapshot.Span) bool { return sp.Start <= key && key < sp.End })
				if j < 0 {
					t.Fatalf("%s lies outside the spans %#v", key, snap.Spans)
				}
				last[j] = rev
			}
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := batches(c.Watch(wctx, snap.Spans, nil)) // spans are stamped with the snapshot revision
	live := snap.Clone()
	collectBatches(t, ch, func(bs []etcd.Batch) bool {
		if len(bs) > 0 {
			b := bs[len(bs)-1]
			live.ApplySpan(b.Span, b.Events)
		}
		for j := range live.Spans {
			if live.Spans[j].Rev < last[j] {
				return false
			}
		}
		return true
	})
	fresh, _, err := c.Snapshot(ctx, sels)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffMaps(snapshotKVs(t, live), snapshotKVs(t, fresh)); len(d) > 0 {
		t.Errorf("snapshot updated batch by batch differs from a fresh read at %d:\n%s", fresh.Revision, strings.Join(d, "\n"))
	}
	if live.Revision != fresh.Revision {
		t.Errorf("snapshot updated batch by batch at %d, fresh read at %d", live.Revision, fresh.Revision)
	}
}

// TestWatchCompacted opens a watch at a revision etcd has compacted: the
// first batch carries ErrCompacted and the compaction revision (so the
// daemon knows to take a fresh snapshot), and the channel closes.
func TestWatchCompacted(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	from := load(t, srv, map[string]string{"/app/a": "1", "/db": "1"}) + 1
	for i := range 5 {
		if _, err := srv.Put(ctx, "/app/a", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	compactAt, err := srv.Put(ctx, "/db", "2")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Compact(ctx, compactAt); err != nil {
		t.Fatal(err)
	}
	spans := snapshot.Cover([]snapshot.Selector{{Key: "/app", Recursive: true}, {Key: "/db"}})
	for i := range spans {
		spans[i].Rev = from - 1
	}
	batches := waitClosed(t, batches(c.Watch(ctx, spans, nil)))
	if len(batches) == 0 {
		t.Fatal("the watch closed without a batch")
	}
	var withErr []etcd.Batch
	for _, b := range batches {
		if len(b.Events) > 0 {
			t.Errorf("compacted watch delivered events %+v", b.Events)
		}
		if b.Err != nil {
			withErr = append(withErr, b)
		}
	}
	// Every span may report the compaction before the watch winds down;
	// the first batch with an error is the one a daemon acts on.
	if len(withErr) == 0 || len(withErr) > len(spans) {
		t.Fatalf("%d batches with an error, want 1..%d: %+v", len(withErr), len(spans), batches)
	}
	for _, b := range withErr {
		if !errors.Is(b.Err, etcd.ErrCompacted) {
			t.Errorf("batch error %v does not wrap ErrCompacted", b.Err)
		}
		var e *etcd.Error
		if !errors.As(b.Err, &e) || !strings.HasPrefix(e.Error(), "watch ") || !strings.HasSuffix(e.Error(), ": the revision was compacted") {
			t.Errorf("batch error %#v, want an *etcd.Error in reconfig's words", b.Err)
		}
		if b.CompactRevision != compactAt {
			t.Errorf("CompactRevision = %d, want %d", b.CompactRevision, compactAt)
		}
	}
}

// TestWatchProgress asks for a progress notification on an idle watch:
// it arrives as a batch without events whose revision is etcd's current
// one, for every span of the stream. The watch starts at the spans' Rev,
// a revision the store has reached, so etcd answers the request without
// any new write (it answers only once the store reaches a watch's start
// revision).
func TestWatchProgress(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	rev := load(t, srv, map[string]string{"/app/a": "1", "/db": "1"})
	spans := snapshot.Cover([]snapshot.Selector{{Key: "/app", Recursive: true}, {Key: "/db"}})
	for i := range spans {
		spans[i].Rev = rev
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := c.Watch(wctx, spans, nil)
	ch := batches(s)
	// The events at Rev come first: the seed of /app/a and /db.
	evs := collectEvents(t, ch, func(evs []snapshot.Event) bool { return len(evs) == 2 })
	for _, ev := range evs {
		if ev.Revision != rev {
			t.Errorf("event %+v, want only the seed's at %d", ev, rev)
		}
	}

	if err := c.RequestProgress(s.Context()); err != nil {
		t.Fatalf("RequestProgress: %v", err)
	}
	got := collectBatches(t, ch, func(bs []etcd.Batch) bool { return len(bs) == len(spans) })
	seen := map[int]bool{}
	for _, b := range got {
		if len(b.Events) != 0 || b.Err != nil {
			t.Errorf("progress batch has events %+v / error %v", b.Events, b.Err)
		}
		if b.Revision != rev {
			t.Errorf("progress batch at revision %d, want %d", b.Revision, rev)
		}
		seen[b.Span] = true
	}
	if len(seen) != len(spans) {
		t.Errorf("progress reached spans %v, want all %d", seen, len(spans))
	}
}

// TestWatchEnds checks that the channel closes when the context ends, and
// that a closed client ends the watch with an error instead of silence.
func TestWatchEnds(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	spans := snapshot.Cover([]snapshot.Selector{{Key: "/app", Recursive: true}, {Key: "/db"}})
	t.Run("context canceled", func(t *testing.T) {
		c := connect(t, srv, etcd.Config{})
		ctx, cancel := context.WithCancel(testCtx(t))
		ch := batches(c.Watch(ctx, spans, nil))
		cancel()
		for _, b := range waitClosed(t, ch) {
			if b.Err != nil {
				t.Errorf("canceled watch sent an error batch: %v", b.Err)
			}
		}
	})
	// A daemon with no bindings watches no span: it must idle, not see
	// the stream close.
	t.Run("no spans: open until the context ends", func(t *testing.T) {
		ctx := testCtx(t)
		c := connect(t, srv, etcd.Config{})
		idleCtx, cancelIdle := context.WithCancel(ctx)
		defer cancelIdle()
		idle := batches(c.Watch(idleCtx, nil, nil))
		// A write seen through another watch of the same client takes
		// longer than a channel needs to close at once.
		snap, _, err := c.Snapshot(ctx, []snapshot.Selector{{Key: "/idle"}})
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := batches(c.Watch(wctx, snap.Spans, nil))
		wrote, err := srv.Put(ctx, "/idle", "x")
		if err != nil {
			t.Fatal(err)
		}
		collectEvents(t, ch, func(evs []snapshot.Event) bool {
			return slices.ContainsFunc(evs, func(ev snapshot.Event) bool { return ev.Revision == wrote })
		})
		select {
		case b, ok := <-idle:
			t.Fatalf("watch of no spans: got %+v (open %v), want nothing until the context ends", b, ok)
		default:
		}
		cancelIdle()
		if got := waitClosed(t, idle); len(got) != 0 {
			t.Errorf("watch of no spans sent %+v before closing", got)
		}
	})
	t.Run("client closed", func(t *testing.T) {
		c, err := etcd.Connect(testCtx(t), etcd.Config{Endpoints: []string{srv.ClientURL}})
		if err != nil {
			t.Fatal(err)
		}
		ch := batches(c.Watch(testCtx(t), spans, nil))
		c.Close()
		got := waitClosed(t, ch)
		if len(got) == 0 || got[len(got)-1].Err == nil {
			t.Fatalf("watch of a closed client ended with %+v, want a batch with an error", got)
		}
		t.Logf("closed client: %v", got[len(got)-1].Err)
	})
}

// TestWatchManySpans watches more spans than one reader goroutine takes
// (64): every batch must name the span its events belong to, across the
// readers, and a progress request must reach every span.
func TestWatchManySpans(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := etcdtest.Start(t)
	c := connect(t, srv, etcd.Config{})
	const n = 150 // three readers: 64, 64 and 22 spans
	var sels []snapshot.Selector
	for i := range n {
		sels = append(sels, snapshot.Selector{Key: fmt.Sprintf("/many/%03d", i)})
	}
	snap, _, err := c.Snapshot(ctx, sels)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Spans) != n {
		t.Fatalf("snapshot of %d spans, want %d", len(snap.Spans), n)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := c.Watch(wctx, snap.Spans, nil) // from the snapshot revision
	ch := batches(s)
	// One write per key, after the snapshot: each must come on its span.
	var last int64
	for i := range n {
		if last, err = srv.Put(ctx, snap.Spans[i].Start, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]int{}
	collectBatches(t, ch, func(bs []etcd.Batch) bool {
		if len(bs) == 0 {
			return false
		}
		b := bs[len(bs)-1]
		for _, ev := range b.Events {
			if b.Span < 0 || b.Span >= n || ev.Key != snap.Spans[b.Span].Start {
				t.Fatalf("batch of span %d holds %s", b.Span, ev.Key)
			}
			seen[b.Span]++
		}
		return len(seen) == n
	})
	for i, k := range seen {
		if k != 1 {
			t.Errorf("span %d: %d events, want 1", i, k)
		}
	}
	// etcd answers a progress request only once every watch of the stream
	// is synced; under load some may still be catching up, so ask until
	// every span has had its answer.
	asking := make(chan struct{})
	defer close(asking)
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			c.RequestProgress(s.Context())
			select {
			case <-asking:
				return
			case <-tick.C:
			}
		}
	}()
	progress := map[int]bool{}
	collectBatches(t, ch, func(bs []etcd.Batch) bool {
		if len(bs) > 0 {
			b := bs[len(bs)-1]
			if len(b.Events) != 0 || b.Revision != last {
				t.Fatalf("progress batch of span %d: events %+v at %d, want none at %d", b.Span, b.Events, b.Revision, last)
			}
			progress[b.Span] = true
		}
		return len(progress) == n
	})
}

package snapshot_test

import (
	"reflect"
	"testing"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// Tests of the per-span revision bookkeeping the watch daemon relies on:
// every span has its own watch, and batches of different spans reach the
// daemon in any order.

// TestSpansOf: the indexes of the spans that hold a selector's keys, each
// once, for coarse spans (appSels: 0 [/app, /app0), 1 [/db, /db\x00)) and
// for exact ones (0 [/app, /app\x00) optional, 1 [/app/, /app0), 2 [/db,
// /db\x00)).
func TestSpansOf(t *testing.T) {
	coarse, exact := build(t, 1, appSels, nil), buildExact(t, 1, appSels, nil)
	if len(coarse.Spans) != 2 || len(exact.Spans) != 3 {
		t.Fatalf("Cover(appSels) = %#v, CoverExact(appSels) = %#v; want 2 and 3 spans", coarse.Spans, exact.Spans)
	}
	tests := []struct {
		name      string
		sel       snapshot.Selector
		want      []int // coarse spans
		wantExact []int
	}{
		{"a recursive read: one coarse span; its own key's span, then its tree's", snapshot.Selector{Key: "/app", Recursive: true}, []int{0}, []int{0, 1}},
		{"trailing slash", snapshot.Selector{Key: "/app/", Recursive: true}, []int{0}, []int{0, 1}},
		{"the key of a recursive read alone", snapshot.Selector{Key: "/app"}, []int{0}, []int{0}},
		{"a nested recursive read: both its ranges in one span, named once", snapshot.Selector{Key: "/app/web", Recursive: true}, []int{0}, []int{1}},
		{"a key under the tree", snapshot.Selector{Key: "/app/web/port"}, []int{0}, []int{1}},
		{"a single key", snapshot.Selector{Key: "/db"}, []int{1}, []int{2}},
		{"a sibling between /app and /app/: in the coarse span only", snapshot.Selector{Key: "/app-old"}, []int{0}, nil},
		{"a recursive sibling between /app and /app/", snapshot.Selector{Key: "/app-old", Recursive: true}, []int{0}, nil},
		{"a sibling after the tree", snapshot.Selector{Key: "/apple"}, nil, nil},
		{"recursive over a single key: only partly covered", snapshot.Selector{Key: "/db", Recursive: true}, nil, nil},
		{"the root", snapshot.Selector{Key: "/", Recursive: true}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				kind string
				s    *snapshot.Snapshot
				want []int
			}{{"coarse", coarse, tt.want}, {"exact", exact, tt.wantExact}} {
				got := c.s.SpansOf(tt.sel)
				if len(got) != len(c.want) || (len(got) > 0 && !reflect.DeepEqual(got, c.want)) {
					t.Errorf("%s spans: SpansOf(%+v) = %v, want %v", c.kind, tt.sel, got, c.want)
				}
				// SpansOf and Covers agree on what is covered.
				if covered := c.s.Covers(tt.sel); covered != (len(c.want) > 0) {
					t.Errorf("%s spans: Covers(%+v) = %v, but SpansOf wants %v", c.kind, tt.sel, covered, c.want)
				}
			}
		})
	}
}

func TestApplySpan(t *testing.T) {
	put := func(rev int64, k, v string) snapshot.Event { return snapshot.Event{Revision: rev, Key: k, Value: v} }
	del := func(rev int64, k string) snapshot.Event { return snapshot.Event{Revision: rev, Key: k, Delete: true} }
	type batch struct {
		span   int
		events []snapshot.Event
		// changed is what ApplySpan must report for this batch.
		changed []string
	}
	// Spans: 0 [/app, /app0), 1 [/db, /db\x00).
	base := map[string]string{"/app": "root", "/app/b": "b", "/app/d": "d", "/db": "pg"}
	tests := []struct {
		name     string
		batches  []batch
		wantRev  int64
		wantRevs []int64 // per span
		want     map[string]string
	}{
		{
			name: "a span's older events after another span's newer ones are still applied",
			batches: []batch{
				{span: 1, events: []snapshot.Event{put(12, "/db", "v12"), put(14, "/db", "v14")}, changed: []string{"/db", "/db"}},
				{span: 0, events: []snapshot.Event{put(11, "/app/a", "v11"), put(11, "/app", "v11"), del(13, "/app/b")}, changed: []string{"/app/a", "/app", "/app/b"}},
			},
			wantRev:  14,
			wantRevs: []int64{13, 14},
			want:     map[string]string{"/app": "v11", "/app/a": "v11", "/app/d": "d", "/db": "v14"},
		},
		{
			name: "a replayed batch is applied once",
			batches: []batch{
				{span: 0, events: []snapshot.Event{put(11, "/app/a", "1"), del(12, "/app/a")}, changed: []string{"/app/a", "/app/a"}},
				{span: 0, events: []snapshot.Event{put(11, "/app/a", "1"), del(12, "/app/a")}, changed: nil},
			},
			wantRev:  12,
			wantRevs: []int64{12, 10},
			want:     base,
		},
		{
			name: "events at or below the span's revision are dropped",
			batches: []batch{
				{span: 0, events: []snapshot.Event{put(10, "/app/b", "old"), del(9, "/app/d"), put(11, "/app/c", "c")}, changed: []string{"/app/c"}},
			},
			wantRev:  11,
			wantRevs: []int64{11, 10},
			want:     map[string]string{"/app": "root", "/app/b": "b", "/app/c": "c", "/app/d": "d", "/db": "pg"},
		},
		{
			name: "every event of one transaction is applied",
			batches: []batch{
				{span: 0, events: []snapshot.Event{put(11, "/app/a", "a"), put(11, "/app/z", "z"), del(11, "/app/b")}, changed: []string{"/app/a", "/app/z", "/app/b"}},
			},
			wantRev:  11,
			wantRevs: []int64{11, 10},
			want:     map[string]string{"/app": "root", "/app/a": "a", "/app/d": "d", "/app/z": "z", "/db": "pg"},
		},
		{
			name: "a put of the same value and a delete of an absent key change nothing",
			batches: []batch{
				{span: 0, events: []snapshot.Event{put(11, "/app/b", "b"), del(12, "/app/nope")}, changed: nil},
			},
			wantRev:  12,
			wantRevs: []int64{12, 10},
			want:     base,
		},
		{
			name: "an event outside the span's range is not stored in it",
			batches: []batch{
				{span: 1, events: []snapshot.Event{put(11, "/db/x", "x"), put(12, "/app/a", "wrong span")}, changed: nil},
			},
			wantRev:  12,
			wantRevs: []int64{10, 12},
			want:     base,
		},
		{
			// The watch of [/app, /app0) delivers the neighbours' events:
			// they are stored as a read would (never selected), and a key
			// past the span's end is not.
			name: "the span of a recursive read holds its own key, its tree and the neighbours between",
			batches: []batch{
				{span: 0, events: []snapshot.Event{put(11, "/app", "r11"), put(12, "/app-old", "neighbour"), put(13, "/app0", "past the end")}, changed: []string{"/app", "/app-old"}},
				{span: 0, events: []snapshot.Event{del(14, "/app")}, changed: []string{"/app"}},
			},
			wantRev:  14,
			wantRevs: []int64{14, 10},
			want:     map[string]string{"/app-old": "neighbour", "/app/b": "b", "/app/d": "d", "/db": "pg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, 10, appSels, base)
			s.Stamp()
			for i, b := range tt.batches {
				got := s.ApplySpan(b.span, b.events)
				if len(got) != len(b.changed) || (len(got) > 0 && !reflect.DeepEqual(got, b.changed)) {
					t.Errorf("batch %d: ApplySpan changed %q, want %q", i, got, b.changed)
				}
			}
			if s.Revision != tt.wantRev {
				t.Errorf("Revision = %d, want %d", s.Revision, tt.wantRev)
			}
			if len(s.Spans) != len(tt.wantRevs) {
				t.Fatalf("%d spans, want %d", len(s.Spans), len(tt.wantRevs))
			}
			for i, w := range tt.wantRevs {
				if s.Spans[i].Rev != w {
					t.Errorf("span %d Rev = %d, want %d", i, s.Spans[i].Rev, w)
				}
			}
			want := build(t, tt.wantRev, appSels, tt.want)
			if got, w := all(t, s), all(t, want); !reflect.DeepEqual(got, w) {
				t.Errorf("after the batches:\n got %q\nwant %q", got, w)
			}
			// Whatever the span stores, the binding of /app sees only its
			// own keys.
			sel := snapshot.Selector{Key: "/app", Recursive: true}
			kvs, err := s.Select(sel)
			if err != nil {
				t.Fatalf("Select(%+v): %v", sel, err)
			}
			for _, kv := range kvs {
				if !sel.Match(kv.Key) {
					t.Errorf("Select(%+v) returned %q", sel, kv.Key)
				}
			}
		})
	}
}

// TestApplySpanUnstamped: a span never stamped (Rev 0) is as current as
// the snapshot was read: events at or below that revision are dropped,
// newer ones applied, and the span is stamped with the newest — even when
// another span's batch has moved the snapshot's revision on first (the
// watch delivers the spans' batches in any order).
func TestApplySpanUnstamped(t *testing.T) {
	s := build(t, 10, appSels, map[string]string{"/app/b": "b", "/db": "pg"})
	got := s.ApplySpan(0, []snapshot.Event{
		{Revision: 9, Key: "/app/old", Value: "x"},
		{Revision: 10, Key: "/app/b", Value: "at the snapshot"},
		{Revision: 12, Key: "/app/c", Value: "c"},
	})
	if !reflect.DeepEqual(got, []string{"/app/c"}) {
		t.Errorf("span 0: ApplySpan changed %q, want [/app/c]", got)
	}
	if s.Spans[0].Rev != 12 || s.Revision != 12 {
		t.Errorf("span 0 Rev %d, Revision %d; want 12 and 12", s.Spans[0].Rev, s.Revision)
	}
	// /db changed at 11, after the snapshot was read at 10: span 1 has not
	// seen it, though the snapshot's revision is now 12.
	got = s.ApplySpan(1, []snapshot.Event{
		{Revision: 10, Key: "/db", Value: "at the snapshot"},
		{Revision: 11, Key: "/db", Value: "v11"},
	})
	if !reflect.DeepEqual(got, []string{"/db"}) {
		t.Errorf("span 1: ApplySpan changed %q, want [/db]", got)
	}
	if s.Spans[1].Rev != 11 || s.Revision != 12 {
		t.Errorf("span 1 Rev %d, Revision %d; want 11 and 12", s.Spans[1].Rev, s.Revision)
	}
	want := build(t, 12, appSels, map[string]string{"/app/b": "b", "/app/c": "c", "/db": "v11"})
	if got, w := all(t, s), all(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("after ApplySpan:\n got %q\nwant %q", got, w)
	}
}

func TestStampAndProgress(t *testing.T) {
	s := build(t, 20, appSels, appData) // spans: /app (and its tree), /db
	s.Stamp()
	for i, sp := range s.Spans {
		if sp.Rev != 20 {
			t.Errorf("span %d Rev = %d after Stamp, want 20", i, sp.Rev)
		}
	}
	s.Progress(1, 25)
	s.Progress(0, 21)
	s.Progress(0, 15) // never backwards
	s.Progress(2, 99) // no such span: ignored
	s.Progress(-1, 99)
	if got := []int64{s.Spans[0].Current(), s.Spans[1].Current()}; !reflect.DeepEqual(got, []int64{21, 25}) {
		t.Errorf("span revisions %v, want [21 25]", got)
	}
	if got := []int64{s.Spans[0].Rev, s.Spans[1].Rev}; !reflect.DeepEqual(got, []int64{20, 20}) {
		t.Errorf("progress moved the spans' event revisions to %v; only events move them", got)
	}
	if s.Revision != 20 {
		t.Errorf("Progress moved the snapshot revision to %d; only events move it", s.Revision)
	}
	// An event below a progress notification but above the span's newest
	// change still applies: etcd before 3.4.24 and 3.5.8 could send the
	// notification ahead of a watch's events. One at or below the span's
	// newest change is old news.
	if got := s.ApplySpan(1, []snapshot.Event{{Revision: 20, Key: "/db", Value: "replayed"}}); got != nil {
		t.Errorf("event at the span's revision applied again: %q", got)
	}
	if got := s.ApplySpan(1, []snapshot.Event{{Revision: 24, Key: "/db", Value: "late"}}); !reflect.DeepEqual(got, []string{"/db"}) {
		t.Errorf("event below the span's progress, above its newest change: changed %q, want [/db]", got)
	}
	if v, _, _ := s.Get("/db"); v != "late" {
		t.Errorf("/db = %q, want late", v)
	}
	if got := s.ApplySpan(1, []snapshot.Event{{Revision: 26, Key: "/db", Value: "new"}}); !reflect.DeepEqual(got, []string{"/db"}) {
		t.Errorf("event above the span's progress: changed %q, want [/db]", got)
	}
	if v, _, _ := s.Get("/db"); v != "new" {
		t.Errorf("/db = %q, want new", v)
	}
}

// TestCloneKeepsEverything: a clone equals the original, field for field,
// including the spans' revisions a watch resumes from and Optional — so
// the snapshot is one of exact spans, as the permission fallback reads
// (0 [/app, /app\x00) optional, 1 [/app/, /app0), 2 [/db, /db\x00)).
func TestCloneKeepsEverything(t *testing.T) {
	s := buildExact(t, 30, appSels, appData)
	s.ClusterID, s.Prefix = "abc", "/p"
	s.Stamp()
	s.ApplySpan(2, []snapshot.Event{{Revision: 31, Key: "/db", Value: "new"}})
	c := s.Clone()
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("Clone differs:\n got %+v\nwant %+v", c, s)
	}
	if !c.Spans[0].Optional || c.Spans[2].Rev != 31 {
		t.Errorf("clone spans %+v: want span 0 optional and span 2 at 31", c.Spans)
	}
	c.ApplySpan(1, []snapshot.Event{{Revision: 32, Key: "/app/a", Value: "clone"}})
	c.ApplySpan(0, []snapshot.Event{{Revision: 33, Key: "/app", Value: "clone"}})
	if v, _, _ := s.Get("/app/a"); v != "1" || s.Spans[1].Rev != 30 {
		t.Errorf("changing the clone changed the original: /app/a = %q, span rev %d", v, s.Spans[1].Rev)
	}
	if v, _, _ := s.Get("/app"); v != "root" || s.Spans[0].Rev != 30 || s.Revision != 31 {
		t.Errorf("changing the clone changed the original: /app = %q, span rev %d, revision %d", v, s.Spans[0].Rev, s.Revision)
	}
}

// TestFileKeepsSpanRevisions: a snapshot read back from its file is
// current at its revision, so a watch of it resumes right after it; and
// Optional survives the file, for coarse spans (none) and exact ones (the
// own key of /app).
func TestFileKeepsSpanRevisions(t *testing.T) {
	tests := []struct {
		name         string
		snap         *snapshot.Snapshot
		wantOptional []bool // per span
	}{
		{name: "coarse spans", snap: build(t, 40, appSels, appData), wantOptional: []bool{false, false}},
		// A reader of the file must still treat the own key of /app as
		// one the role may not be allowed to read.
		{name: "exact spans", snap: buildExact(t, 40, appSels, appData), wantOptional: []bool{true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.snap
			s.Stamp()
			raw, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := snapshot.Unmarshal("snap.json", raw)
			if err != nil {
				t.Fatal(err)
			}
			for i, sp := range got.Spans {
				if sp.Rev != 40 {
					t.Errorf("span %d [%q, %q) Rev = %d after reading the file, want 40", i, sp.Start, sp.End, sp.Rev)
				}
			}
			var opt []bool
			for _, sp := range got.Spans {
				opt = append(opt, sp.Optional)
			}
			if !reflect.DeepEqual(opt, tt.wantOptional) {
				t.Errorf("Optional after the file round trip: %v, want %v", opt, tt.wantOptional)
			}
			if !reflect.DeepEqual(got.Spans, s.Spans) {
				t.Errorf("spans differ after the file round trip:\n got %+v\nwant %+v", got.Spans, s.Spans)
			}
		})
	}
}

package snapshot_test

import (
	"reflect"
	"testing"

	"github.com/reconfig/reconfig/snapshot"
)

// Tests of the per-span revision bookkeeping the watch daemon relies on:
// every span has its own watch, and batches of different spans reach the
// daemon in any order.

func TestSpanOf(t *testing.T) {
	s := build(t, 1, appSels, nil) // spans: [/app, /app0), [/db, /db\x00)
	tests := []struct {
		sel  snapshot.Selector
		want int
	}{
		{snapshot.Selector{Key: "/app", Recursive: true}, 0},
		{snapshot.Selector{Key: "/app/web", Recursive: true}, 0},
		{snapshot.Selector{Key: "/app-old"}, 0},
		{snapshot.Selector{Key: "/db"}, 1},
		{snapshot.Selector{Key: "/db", Recursive: true}, -1},
		{snapshot.Selector{Key: "/apple"}, -1},
		{snapshot.Selector{Key: "/", Recursive: true}, -1},
	}
	for _, tt := range tests {
		if got := s.SpanOf(tt.sel); got != tt.want {
			t.Errorf("SpanOf(%+v) = %d, want %d", tt.sel, got, tt.want)
		}
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
	base := map[string]string{"/app/b": "b", "/app/d": "d", "/db": "pg"}
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
				{span: 0, events: []snapshot.Event{put(11, "/app/a", "v11"), del(13, "/app/b")}, changed: []string{"/app/a", "/app/b"}},
			},
			wantRev:  14,
			wantRevs: []int64{13, 14},
			want:     map[string]string{"/app/a": "v11", "/app/d": "d", "/db": "v14"},
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
			want:     map[string]string{"/app/b": "b", "/app/c": "c", "/app/d": "d", "/db": "pg"},
		},
		{
			name: "every event of one transaction is applied",
			batches: []batch{
				{span: 0, events: []snapshot.Event{put(11, "/app/a", "a"), put(11, "/app/z", "z"), del(11, "/app/b")}, changed: []string{"/app/a", "/app/z", "/app/b"}},
			},
			wantRev:  11,
			wantRevs: []int64{11, 10},
			want:     map[string]string{"/app/a": "a", "/app/d": "d", "/app/z": "z", "/db": "pg"},
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
			for i, w := range tt.wantRevs {
				if s.Spans[i].Rev != w {
					t.Errorf("span %d Rev = %d, want %d", i, s.Spans[i].Rev, w)
				}
			}
			want := build(t, tt.wantRev, appSels, tt.want)
			if got, w := all(t, s), all(t, want); !reflect.DeepEqual(got, w) {
				t.Errorf("after the batches:\n got %q\nwant %q", got, w)
			}
		})
	}
}

func TestStampAndProgress(t *testing.T) {
	s := build(t, 20, appSels, appData)
	s.Stamp()
	for i, sp := range s.Spans {
		if sp.Rev != 20 {
			t.Errorf("span %d Rev = %d after Stamp, want 20", i, sp.Rev)
		}
	}
	s.Progress(1, 25)
	s.Progress(0, 15) // never backwards
	s.Progress(5, 99) // no such span: ignored
	s.Progress(-1, 99)
	if s.Spans[0].Rev != 20 || s.Spans[1].Rev != 25 {
		t.Errorf("span revisions %d, %d; want 20, 25", s.Spans[0].Rev, s.Spans[1].Rev)
	}
	// After progress, an event at or below it is old news for that span.
	if got := s.ApplySpan(1, []snapshot.Event{{Revision: 24, Key: "/db", Value: "late"}}); got != nil {
		t.Errorf("event below the span's progress applied: %q", got)
	}
	if v, _, _ := s.Get("/db"); v != "pg" {
		t.Errorf("/db = %q, want pg", v)
	}
}

// TestCloneKeepsEverything: a clone equals the original, field for field,
// including the spans' revisions a watch resumes from.
func TestCloneKeepsEverything(t *testing.T) {
	s := build(t, 30, appSels, appData)
	s.ClusterID, s.Prefix = "abc", "/p"
	s.Stamp()
	s.ApplySpan(1, []snapshot.Event{{Revision: 31, Key: "/db", Value: "new"}})
	c := s.Clone()
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("Clone differs:\n got %+v\nwant %+v", c, s)
	}
	c.ApplySpan(0, []snapshot.Event{{Revision: 32, Key: "/app/a", Value: "clone"}})
	if v, _, _ := s.Get("/app/a"); v != "1" || s.Spans[0].Rev != 30 {
		t.Errorf("changing the clone changed the original: /app/a = %q, span rev %d", v, s.Spans[0].Rev)
	}
}

// TestFileKeepsSpanRevisions: a snapshot read back from its file is
// current at its revision, so a watch of it resumes right after it.
func TestFileKeepsSpanRevisions(t *testing.T) {
	s := build(t, 40, appSels, appData)
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
	if !reflect.DeepEqual(got.Spans, s.Spans) {
		t.Errorf("spans differ after the file round trip:\n got %+v\nwant %+v", got.Spans, s.Spans)
	}
}

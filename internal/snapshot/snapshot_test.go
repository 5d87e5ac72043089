package snapshot_test

import (
	"errors"
	"reflect"
	"sort"
	"testing"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// build makes the snapshot etcd would give for sels when it holds data:
// the covered keys of data, sorted, in the spans of snapshot.Cover (one
// coarse span per binding, as Client.Snapshot reads them).
func build(t *testing.T, rev int64, sels []snapshot.Selector, data map[string]string) *snapshot.Snapshot {
	t.Helper()
	return buildSpans(t, rev, snapshot.Cover(sels), data)
}

// buildExact is build with the spans of snapshot.CoverExact, as the
// permission fallback reads them.
func buildExact(t *testing.T, rev int64, sels []snapshot.Selector, data map[string]string) *snapshot.Snapshot {
	t.Helper()
	return buildSpans(t, rev, snapshot.CoverExact(sels), data)
}

// buildSpans puts every key of data in the span that holds it; every key
// must lie in one.
func buildSpans(t *testing.T, rev int64, spans []snapshot.Span, data map[string]string) *snapshot.Snapshot {
	t.Helper()
	s := &snapshot.Snapshot{Revision: rev, Spans: spans}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		placed := false
		for i := range s.Spans {
			if s.Spans[i].Start <= k && k < s.Spans[i].End {
				if err := s.Spans[i].Append(snapshot.KV{Key: k, Value: data[k]}); err != nil {
					t.Fatal(err)
				}
				placed = true
			}
		}
		if !placed {
			t.Fatalf("test data key %q lies outside the spans", k)
		}
	}
	return s
}

// all returns every key/value of the snapshot in span order, and fails the
// test if the promises (spans sorted and disjoint, keys sorted, unique and
// inside their span) do not hold.
func all(t *testing.T, s *snapshot.Snapshot) []snapshot.KV {
	t.Helper()
	var out []snapshot.KV
	for i, sp := range s.Spans {
		if i > 0 && s.Spans[i-1].End > sp.Start {
			t.Fatalf("spans %d and %d overlap", i-1, i)
		}
		n := 0
		for kv := range sp.All() {
			if kv.Key < sp.Start || kv.Key >= sp.End {
				t.Fatalf("key %q lies outside its span [%q, %q)", kv.Key, sp.Start, sp.End)
			}
			if len(out) > 0 && out[len(out)-1].Key >= kv.Key {
				t.Fatalf("keys %q and %q are not sorted and unique", out[len(out)-1].Key, kv.Key)
			}
			out = append(out, kv)
			n++
		}
		if n != sp.Len() {
			t.Fatalf("span [%q, %q) yields %d key/values, Len says %d", sp.Start, sp.End, n, sp.Len())
		}
	}
	return out
}

var (
	// appSels cover two spans: [/app, /app0) and [/db, /db\x00) (with
	// snapshot.CoverExact three: [/app, /app\x00) optional, [/app/, /app0)
	// and [/db, /db\x00)). /app-old lies in the first, /apple in none.
	appSels = []snapshot.Selector{{Key: "/app", Recursive: true}, {Key: "/db"}}
	appData = map[string]string{
		"/app":       "root",
		"/app/a":     "1",
		"/app/b/c":   "2",
		"/app/b/d":   "3",
		"/app/empty": "",
		"/db":        "pg",
	}
)

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

// TestSelect: a snapshot of coarse spans (Cover) holds the neighbours that
// sort inside a recursive read's span — etcd returned them — but Select
// returns exactly the keys the selector matches, in key order: a recursive
// /app gives /app, then the keys under /app/, never /app-old or /app.d.
func TestSelect(t *testing.T) {
	// Another binding reads /app-old on its own, and /apple recursively;
	// /app.d/x is a neighbour no binding reads. /app-old and /app.d/x sort
	// between /app and /app/ ('-' and '.' sort before '/'), so the span of
	// /app holds them; /apple sorts after /app0 and has its own.
	sels := append([]snapshot.Selector{{Key: "/app-old"}, {Key: "/apple", Recursive: true}}, appSels...)
	data := with(appData, map[string]string{"/app-old": "stale", "/app.d/x": "neighbour", "/apple": "fruit", "/apple/x": "x"})
	s := build(t, 7, sels, data)
	if len(s.Spans) != 3 || s.Spans[0].Start != "/app" || s.Spans[0].End != "/app0" {
		t.Fatalf("spans %#v, want 3: [/app, /app0) with its neighbours, /apple's and /db's", s.Spans)
	}
	if s.Len() != len(data) {
		t.Fatalf("snapshot holds %d keys, want all %d: the neighbours are stored", s.Len(), len(data))
	}
	tests := []struct {
		name    string
		sel     snapshot.Selector
		want    []snapshot.KV
		wantErr string
	}{
		{
			name: "recursive read: its own key, then the keys under it, never the neighbours in its span",
			sel:  snapshot.Selector{Key: "/app", Recursive: true},
			want: []snapshot.KV{{"/app", "root"}, {"/app/a", "1"}, {"/app/b/c", "2"}, {"/app/b/d", "3"}, {"/app/empty", ""}},
		},
		{
			name: "trailing slash reads the same",
			sel:  snapshot.Selector{Key: "/app/", Recursive: true},
			want: []snapshot.KV{{"/app", "root"}, {"/app/a", "1"}, {"/app/b/c", "2"}, {"/app/b/d", "3"}, {"/app/empty", ""}},
		},
		{
			name: "nested recursive read inside a covered span",
			sel:  snapshot.Selector{Key: "/app/b", Recursive: true},
			want: []snapshot.KV{{"/app/b/c", "2"}, {"/app/b/d", "3"}},
		},
		{
			name: "a neighbour read on its own",
			sel:  snapshot.Selector{Key: "/app-old"},
			want: []snapshot.KV{{"/app-old", "stale"}},
		},
		{
			name: "a neighbour no binding reads lies in a read span: covered",
			sel:  snapshot.Selector{Key: "/app.d/x"},
			want: []snapshot.KV{{"/app.d/x", "neighbour"}},
		},
		{
			name: "a recursive read of a neighbour inside the span: its own key, not /app's",
			sel:  snapshot.Selector{Key: "/app-old", Recursive: true},
			want: []snapshot.KV{{"/app-old", "stale"}},
		},
		{
			name: "a recursive sibling after the tree",
			sel:  snapshot.Selector{Key: "/apple", Recursive: true},
			want: []snapshot.KV{{"/apple", "fruit"}, {"/apple/x", "x"}},
		},
		{
			name: "the own key of a recursive read, read alone",
			sel:  snapshot.Selector{Key: "/app"},
			want: []snapshot.KV{{"/app", "root"}},
		},
		{
			name: "single key",
			sel:  snapshot.Selector{Key: "/app/a"},
			want: []snapshot.KV{{"/app/a", "1"}},
		},
		{
			name: "empty value is present, not absent",
			sel:  snapshot.Selector{Key: "/app/empty"},
			want: []snapshot.KV{{"/app/empty", ""}},
		},
		{
			name: "covered but absent key gives no key/values and no error",
			sel:  snapshot.Selector{Key: "/app/zzz"},
			want: []snapshot.KV{},
		},
		{
			name: "covered but empty recursive read",
			sel:  snapshot.Selector{Key: "/app/none", Recursive: true},
			want: []snapshot.KV{},
		},
		{
			name: "non-recursive key",
			sel:  snapshot.Selector{Key: "/db"},
			want: []snapshot.KV{{"/db", "pg"}},
		},
		{
			name:    "recursive read of a key read only alone is not covered",
			sel:     snapshot.Selector{Key: "/db", Recursive: true},
			wantErr: "the snapshot does not contain key /db",
		},
		{
			name:    "key outside every span",
			sel:     snapshot.Selector{Key: "/b"},
			wantErr: "the snapshot does not contain key /b",
		},
		{
			name:    "key at the end of a span, outside it",
			sel:     snapshot.Selector{Key: "/app0"},
			wantErr: "the snapshot does not contain key /app0",
		},
		{
			name:    "root",
			sel:     snapshot.Selector{Key: "/", Recursive: true},
			wantErr: "the snapshot does not contain key /",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSelect(t, s, tt.sel, tt.want, tt.wantErr)
		})
	}
}

// TestSelectExact: Select on the spans of CoverExact, which the
// permission fallback reads: a recursive read's own key and its tree in
// spans apart, with siblings that other bindings read between them.
func TestSelectExact(t *testing.T) {
	// Another binding reads /app-old and /apple on their own, so the
	// snapshot holds them, in spans of their own: /app-old between /app
	// and /app/ ('-' sorts before '/'), /apple after /app/.
	sels := append([]snapshot.Selector{{Key: "/app-old"}, {Key: "/apple", Recursive: true}}, appSels...)
	s := buildExact(t, 7, sels, with(appData, map[string]string{"/app-old": "stale", "/apple": "fruit", "/apple/x": "x"}))
	if len(s.Spans) != 6 {
		t.Fatalf("spans %#v, want 6: the sibling keys must have spans of their own", s.Spans)
	}
	tests := []struct {
		name    string
		sel     snapshot.Selector
		want    []snapshot.KV
		wantErr string
	}{
		{
			name: "recursive read: its own key, then the keys under it, never the siblings in between",
			sel:  snapshot.Selector{Key: "/app", Recursive: true},
			want: []snapshot.KV{{"/app", "root"}, {"/app/a", "1"}, {"/app/b/c", "2"}, {"/app/b/d", "3"}, {"/app/empty", ""}},
		},
		{
			name: "trailing slash reads the same",
			sel:  snapshot.Selector{Key: "/app/", Recursive: true},
			want: []snapshot.KV{{"/app", "root"}, {"/app/a", "1"}, {"/app/b/c", "2"}, {"/app/b/d", "3"}, {"/app/empty", ""}},
		},
		{
			name: "nested recursive read inside a covered span",
			sel:  snapshot.Selector{Key: "/app/b", Recursive: true},
			want: []snapshot.KV{{"/app/b/c", "2"}, {"/app/b/d", "3"}},
		},
		{
			name: "a sibling read on its own",
			sel:  snapshot.Selector{Key: "/app-old"},
			want: []snapshot.KV{{"/app-old", "stale"}},
		},
		{
			name: "a recursive sibling after the tree",
			sel:  snapshot.Selector{Key: "/apple", Recursive: true},
			want: []snapshot.KV{{"/apple", "fruit"}, {"/apple/x", "x"}},
		},
		{
			name: "the own key of a recursive read, read alone",
			sel:  snapshot.Selector{Key: "/app"},
			want: []snapshot.KV{{"/app", "root"}},
		},
		{
			name: "covered but absent key gives no key/values and no error",
			sel:  snapshot.Selector{Key: "/app/zzz"},
			want: []snapshot.KV{},
		},
		{
			name: "non-recursive key",
			sel:  snapshot.Selector{Key: "/db"},
			want: []snapshot.KV{{"/db", "pg"}},
		},
		{
			name:    "recursive read of a key read only alone is not covered",
			sel:     snapshot.Selector{Key: "/db", Recursive: true},
			wantErr: "the snapshot does not contain key /db",
		},
		{
			name:    "a key between the own key and the tree that no binding reads is not covered",
			sel:     snapshot.Selector{Key: "/app.d/x"},
			wantErr: "the snapshot does not contain key /app.d/x",
		},
		{
			name:    "recursive read of a sibling read only alone is not covered",
			sel:     snapshot.Selector{Key: "/app-old", Recursive: true},
			wantErr: "the snapshot does not contain key /app-old",
		},
		{
			name:    "root",
			sel:     snapshot.Selector{Key: "/", Recursive: true},
			wantErr: "the snapshot does not contain key /",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSelect(t, s, tt.sel, tt.want, tt.wantErr)
		})
	}
}

// checkSelect checks Select(sel) against want or wantErr, that every key
// it returns is one sel matches, and that Covers agrees.
func checkSelect(t *testing.T, s *snapshot.Snapshot, sel snapshot.Selector, want []snapshot.KV, wantErr string) {
	t.Helper()
	got, err := s.Select(sel)
	if wantErr != "" {
		var nc *snapshot.ErrNotCovered
		if !errors.As(err, &nc) || err.Error() != wantErr || nc.Key != sel.Key {
			t.Fatalf("Select(%+v) error = %v, want *ErrNotCovered %q", sel, err, wantErr)
		}
		if s.Covers(sel) {
			t.Errorf("Covers(%+v) = true for a selector Select refuses", sel)
		}
		return
	}
	if err != nil {
		t.Fatalf("Select(%+v): %v", sel, err)
	}
	if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("Select(%+v) = %q, want %q", sel, got, want)
	}
	for _, kv := range got {
		if !sel.Match(kv.Key) {
			t.Errorf("Select(%+v) returned %q, which it does not match", sel, kv.Key)
		}
	}
	if !s.Covers(sel) {
		t.Errorf("Covers(%+v) = false for a selector Select answers", sel)
	}
}

func TestGet(t *testing.T) {
	s := build(t, 7, appSels, with(appData, map[string]string{"/app-old": "stale"}))
	tests := []struct {
		name       string
		key        string
		wantValue  string
		wantOK     bool
		notCovered bool
	}{
		{name: "present", key: "/app/b/c", wantValue: "2", wantOK: true},
		{name: "present and empty", key: "/app/empty", wantValue: "", wantOK: true},
		{name: "the key of a recursive read", key: "/app", wantValue: "root", wantOK: true},
		{name: "covered and absent", key: "/app/b", wantOK: false},
		{name: "not covered", key: "/dbx", notCovered: true},
		// The span of /app was read whole: a key in it is known.
		{name: "a neighbour between /app and /app/ lies in the span of /app", key: "/app-old", wantValue: "stale", wantOK: true},
		{name: "an absent neighbour in the span of /app is covered", key: "/app.d", wantOK: false},
		{name: "a sibling after the span of /app is not covered", key: "/apple", notCovered: true},
		{name: "not covered, sorts before every span", key: "/", notCovered: true},
		{name: "not covered, sorts after every span", key: "/zzz", notCovered: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok, err := s.Get(tt.key)
			if tt.notCovered {
				var nc *snapshot.ErrNotCovered
				if !errors.As(err, &nc) || nc.Key != tt.key {
					t.Fatalf("Get(%q) error = %v, want ErrNotCovered for the key", tt.key, err)
				}
				if ok {
					t.Errorf("Get(%q) ok = true with an error", tt.key)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.key, err)
			}
			if v != tt.wantValue || ok != tt.wantOK {
				t.Fatalf("Get(%q) = %q, %v; want %q, %v", tt.key, v, ok, tt.wantValue, tt.wantOK)
			}
		})
	}
}

// TestCovers: a snapshot covers a selector when the spans hold all its
// exact ranges, whether the spans are coarse (Cover) or exact
// (CoverExact). Only the coarse ones hold the neighbours of /app.
func TestCovers(t *testing.T) {
	sels := []snapshot.Selector{{Key: "/app", Recursive: true}, {Key: "/db"}, {Key: "/m", Recursive: true}}
	coarse, exact := build(t, 1, sels, nil), buildExact(t, 1, sels, nil)
	tests := []struct {
		name      string
		sel       snapshot.Selector
		want      bool // coarse spans
		wantExact bool
	}{
		{"recursive read itself", snapshot.Selector{Key: "/app", Recursive: true}, true, true},
		{"nested recursive read", snapshot.Selector{Key: "/app/web", Recursive: true}, true, true},
		{"key inside", snapshot.Selector{Key: "/app/web/port"}, true, true},
		{"single key itself", snapshot.Selector{Key: "/db"}, true, true},
		{"under a single key", snapshot.Selector{Key: "/db/x"}, false, false},
		{"recursive over a single key", snapshot.Selector{Key: "/db", Recursive: true}, false, false},
		{"between spans", snapshot.Selector{Key: "/b"}, false, false},
		{"sibling after the range", snapshot.Selector{Key: "/apple"}, false, false},
		{"sibling between the key and its tree", snapshot.Selector{Key: "/app-old"}, true, false},
		{"the key of a recursive read alone", snapshot.Selector{Key: "/app"}, true, true},
		{"recursive over a sibling", snapshot.Selector{Key: "/app-old", Recursive: true}, true, false},
		{"the end of the span of /app", snapshot.Selector{Key: "/app0"}, false, false},
		{"straddles two spans", snapshot.Selector{Key: "/", Recursive: true}, false, false},
		{"after the last span", snapshot.Selector{Key: "/z"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coarse.Covers(tt.sel); got != tt.want {
				t.Errorf("coarse spans: Covers(%+v) = %v, want %v", tt.sel, got, tt.want)
			}
			if got := exact.Covers(tt.sel); got != tt.wantExact {
				t.Errorf("exact spans: Covers(%+v) = %v, want %v", tt.sel, got, tt.wantExact)
			}
		})
	}
}

// TestApply: Apply routes each event to the span that holds its key, so
// the result of one call with the events of every span, in any order
// across spans, is what a fresh read of etcd would give. It must hold for
// a snapshot as read (stamped) and for one never stamped (Rev 0: as
// current as the snapshot).
func TestApply(t *testing.T) {
	put := func(rev int64, k, v string) snapshot.Event { return snapshot.Event{Revision: rev, Key: k, Value: v} }
	del := func(rev int64, k string) snapshot.Event { return snapshot.Event{Revision: rev, Key: k, Delete: true} }
	// Spans: 0 [/app, /app0), 1 [/db, /db\x00).
	base := map[string]string{"/app/b": "b", "/app/d": "d", "/db": "pg"}
	tests := []struct {
		name        string
		events      []snapshot.Event
		wantChanged bool
		wantRev     int64
		want        map[string]string
	}{
		{
			name:        "insert in the middle, at the front and at the end stays sorted",
			events:      []snapshot.Event{put(11, "/app/c", "c"), put(12, "/app", "root"), put(13, "/app/z", "z")},
			wantChanged: true,
			wantRev:     13,
			want:        map[string]string{"/app": "root", "/app/b": "b", "/app/c": "c", "/app/d": "d", "/app/z": "z", "/db": "pg"},
		},
		{
			name:        "events of different spans in any revision order are all applied",
			events:      []snapshot.Event{put(14, "/db", "v14"), put(12, "/app/c", "c"), put(11, "/app", "root"), del(13, "/app/b")},
			wantChanged: true,
			wantRev:     14,
			want:        map[string]string{"/app": "root", "/app/c": "c", "/app/d": "d", "/db": "v14"},
		},
		{
			name:        "update an existing key",
			events:      []snapshot.Event{put(11, "/app/b", "B")},
			wantChanged: true,
			wantRev:     11,
			want:        map[string]string{"/app/b": "B", "/app/d": "d", "/db": "pg"},
		},
		{
			name:        "delete an existing key",
			events:      []snapshot.Event{del(11, "/app/b"), del(12, "/db")},
			wantChanged: true,
			wantRev:     12,
			want:        map[string]string{"/app/d": "d"},
		},
		{
			name:        "delete of an absent key changes nothing but the revision",
			events:      []snapshot.Event{del(11, "/app/nope")},
			wantChanged: false,
			wantRev:     11,
			want:        base,
		},
		{
			name:        "a put of the value a key has changes nothing but the revision",
			events:      []snapshot.Event{put(11, "/app/b", "b"), put(12, "/db", "pg")},
			wantChanged: false,
			wantRev:     12,
			want:        base,
		},
		{
			name:        "events outside the spans are not stored",
			events:      []snapshot.Event{put(11, "/apple", "x"), put(12, "/db/x", "y"), put(13, "/", "z"), put(14, "/app0", "at the end of /app's span")},
			wantChanged: false,
			wantRev:     14,
			want:        base,
		},
		{
			name:        "events at or below the revision are ignored",
			events:      []snapshot.Event{put(10, "/app/b", "old"), del(9, "/app/d"), put(3, "/app/new", "x"), put(10, "/app", "old")},
			wantChanged: false,
			wantRev:     10,
			want:        base,
		},
		{
			name: "every event of one transaction (one revision) is applied",
			events: []snapshot.Event{
				put(11, "/app/a", "a"), put(11, "/app/e", "e"), del(11, "/app/b"), put(11, "/app", "r"),
				put(12, "/app/d", "D"), put(12, "/app/f", "f"),
			},
			wantChanged: true,
			wantRev:     12,
			want:        map[string]string{"/app": "r", "/app/a": "a", "/app/d": "D", "/app/e": "e", "/app/f": "f", "/db": "pg"},
		},
		{
			name:        "put then delete then put again of one key",
			events:      []snapshot.Event{put(11, "/app/x", "1"), del(12, "/app/x"), put(13, "/app/x", "3")},
			wantChanged: true,
			wantRev:     13,
			want:        map[string]string{"/app/b": "b", "/app/d": "d", "/app/x": "3", "/db": "pg"},
		},
		{
			// A fresh read of the span of /app returns them too; Select
			// leaves them out (TestSelect).
			name:        "neighbours (/app-old, /app\\x00x) lie in the span of /app and are stored like etcd holds them",
			events:      []snapshot.Event{put(11, "/app-old", "o"), put(12, "/app\x00x", "between"), put(13, "/app.d/x", "d")},
			wantChanged: true,
			wantRev:     13,
			want:        map[string]string{"/app-old": "o", "/app\x00x": "between", "/app.d/x": "d", "/app/b": "b", "/app/d": "d", "/db": "pg"},
		},
	}
	for _, tt := range tests {
		for _, stamped := range []bool{true, false} {
			name := tt.name + "/stamped"
			if !stamped {
				name = tt.name + "/never stamped"
			}
			t.Run(name, func(t *testing.T) {
				s := build(t, 10, appSels, base)
				if stamped {
					s.Stamp()
				}
				orig := s.Clone()
				if got := s.Apply(tt.events); got != tt.wantChanged {
					t.Errorf("Apply() = %v, want %v", got, tt.wantChanged)
				}
				if s.Revision != tt.wantRev {
					t.Errorf("Revision = %d, want %d", s.Revision, tt.wantRev)
				}
				// The result must be what a fresh read of etcd would give.
				want := build(t, tt.wantRev, appSels, tt.want)
				if got, w := all(t, s), all(t, want); !reflect.DeepEqual(got, w) {
					t.Errorf("after Apply:\n got %q\nwant %q", got, w)
				}
				if s.Len() != len(tt.want) {
					t.Errorf("Len() = %d, want %d", s.Len(), len(tt.want))
				}
				// A clone taken before is untouched.
				if got, w := all(t, orig), all(t, build(t, 10, appSels, base)); !reflect.DeepEqual(got, w) || orig.Revision != 10 {
					t.Errorf("Apply changed a clone taken before it: %q at %d", got, orig.Revision)
				}
			})
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	s := build(t, 5, appSels, appData)
	c := s.Clone()
	c.Apply([]snapshot.Event{{Revision: 6, Key: "/app/a", Value: "changed"}, {Revision: 6, Key: "/app/b/c", Delete: true}, {Revision: 6, Key: "/app", Value: "scribbled"}})
	if v, _, _ := s.Get("/app/a"); v != "1" {
		t.Errorf("original /app/a = %q after changing the clone, want 1", v)
	}
	if _, ok, _ := s.Get("/app/b/c"); !ok {
		t.Errorf("original lost /app/b/c when the clone deleted it")
	}
	if v, _, _ := s.Get("/app"); v != "root" {
		t.Errorf("original /app = %q after changing the clone, want root", v)
	}
	if s.Revision != 5 || c.Revision != 6 {
		t.Errorf("revisions: original %d clone %d, want 5 and 6", s.Revision, c.Revision)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		prefix, key, want string
	}{
		{"", "/app", "/app"},
		{"/p", "/app", "/p/app"},
		{"/p/", "/app/x", "/p/app/x"},
	}
	for _, tt := range tests {
		s := &snapshot.Snapshot{Prefix: tt.prefix}
		if got := s.Describe(tt.key); got != tt.want {
			t.Errorf("prefix %q: Describe(%q) = %q, want %q", tt.prefix, tt.key, got, tt.want)
		}
	}
}

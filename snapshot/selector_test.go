package snapshot_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/reconfig/reconfig/snapshot"
)

// TestSelector pins down which keys a selector reads (Match), the key
// ranges that hold exactly those keys (Ranges) and the prefix of a
// recursive read, for the shapes a binding may write: a plain key, a
// recursive key with or without a trailing slash, and the root.
func TestSelector(t *testing.T) {
	rng := func(a, b string) snapshot.Range { return snapshot.Range{Start: a, End: b} }
	opt := func(a, b string) snapshot.Range { return snapshot.Range{Start: a, End: b, Optional: true} }
	tests := []struct {
		name       string
		sel        snapshot.Selector
		wantRanges []snapshot.Range
		wantPrefix string
		match      []string
		noMatch    []string
	}{
		{
			name:       "single key",
			sel:        snapshot.Selector{Key: "/app"},
			wantRanges: []snapshot.Range{rng("/app", "/app\x00")},
			wantPrefix: "/app/",
			match:      []string{"/app"},
			noMatch:    []string{"/app/", "/app/x", "/apple", "/ap", "/app\x00"},
		},
		{
			name: "recursive key: its own key (optional) and the keys under key/",
			sel:  snapshot.Selector{Key: "/app", Recursive: true},
			wantRanges: []snapshot.Range{
				opt("/app", "/app\x00"),
				rng("/app/", "/app0"),
			},
			wantPrefix: "/app/",
			match:      []string{"/app", "/app/", "/app/x", "/app/x/y", "/app/\xff"},
			// /app-old, /app.d and /app\x00x sort between /app and /app/:
			// no range may hold them.
			noMatch: []string{"/apple", "/app-old", "/app.d/x", "/app\x00", "/app\x00x", "/app0", "/ap", "/", "app/x"},
		},
		{
			name:       "recursive key with trailing slash reads the same as without",
			sel:        snapshot.Selector{Key: "/app/", Recursive: true},
			wantRanges: []snapshot.Range{opt("/app", "/app\x00"), rng("/app/", "/app0")},
			wantPrefix: "/app/",
			match:      []string{"/app", "/app/", "/app/x/y"},
			noMatch:    []string{"/apple", "/app-old", "/app0"},
		},
		{
			name:       "nested recursive key",
			sel:        snapshot.Selector{Key: "/app/web", Recursive: true},
			wantRanges: []snapshot.Range{opt("/app/web", "/app/web\x00"), rng("/app/web/", "/app/web0")},
			wantPrefix: "/app/web/",
			match:      []string{"/app/web", "/app/web/1"},
			noMatch:    []string{"/app", "/app/web2", "/app/web-old", "/app/webx/1", "/app/db"},
		},
		{
			name:       "recursive root reads every key in one range, / included",
			sel:        snapshot.Selector{Key: "/", Recursive: true},
			wantRanges: []snapshot.Range{rng("/", "0")},
			wantPrefix: "/",
			match:      []string{"/", "/a", "/app/x", "/\xff"},
			noMatch:    []string{"a", "0", ""},
		},
		{
			name:       "root as a single key",
			sel:        snapshot.Selector{Key: "/"},
			wantRanges: []snapshot.Range{rng("/", "/\x00")},
			wantPrefix: "/",
			match:      []string{"/"},
			noMatch:    []string{"/a", ""},
		},
		{
			name:       "single key with trailing slash is that exact key",
			sel:        snapshot.Selector{Key: "/app/"},
			wantRanges: []snapshot.Range{rng("/app/", "/app/\x00")},
			wantPrefix: "/app/",
			match:      []string{"/app/"},
			noMatch:    []string{"/app", "/app/x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := tt.sel.Ranges()
			if !reflect.DeepEqual(rs, tt.wantRanges) {
				t.Errorf("Ranges() = %#v, want %#v", rs, tt.wantRanges)
			}
			if got := tt.sel.Prefix(); got != tt.wantPrefix {
				t.Errorf("Prefix() = %q, want %q", got, tt.wantPrefix)
			}
			// in counts the ranges that hold k.
			in := func(k string) int {
				n := 0
				for _, r := range rs {
					if r.Start <= k && k < r.End {
						n++
					}
				}
				return n
			}
			for _, k := range tt.match {
				if !tt.sel.Match(k) {
					t.Errorf("Match(%q) = false, want true", k)
				}
				// Every key the selector reads must lie in one of its
				// ranges, or a snapshot of them would miss it; in exactly
				// one, or Select would return it twice.
				if n := in(k); n != 1 {
					t.Errorf("matched key %q lies in %d of the ranges %#v, want 1", k, n, rs)
				}
			}
			for _, k := range tt.noMatch {
				if tt.sel.Match(k) {
					t.Errorf("Match(%q) = true, want false", k)
				}
				// A key the selector does not read must not be read at
				// all: Select no longer filters.
				if n := in(k); n != 0 {
					t.Errorf("key %q that the selector does not match lies in the ranges %#v", k, rs)
				}
			}
		})
	}
}

// TestCover checks that the reads of many bindings are merged into the
// fewest disjoint spans, sorted by start, whatever order they come in; and
// that a span is Optional only when every read in it is a recursive
// binding's own key.
func TestCover(t *testing.T) {
	rec := func(k string) snapshot.Selector { return snapshot.Selector{Key: k, Recursive: true} }
	one := func(k string) snapshot.Selector { return snapshot.Selector{Key: k} }
	span := func(a, b string) snapshot.Span { return snapshot.Span{Start: a, End: b} }
	// key is the span of one key, ownKey the same read as a recursive
	// binding's own (optional) key, under the span of the keys under b/.
	key := func(k string) snapshot.Span { return span(k, k+"\x00") }
	ownKey := func(k string) snapshot.Span { return snapshot.Span{Start: k, End: k + "\x00", Optional: true} }
	under := func(b string) snapshot.Span { return span(b+"/", b+"0") }
	tests := []struct {
		name string
		sels []snapshot.Selector
		want []snapshot.Span
	}{
		{
			name: "nothing to read",
			sels: nil,
			want: nil,
		},
		{
			name: "a recursive read is two spans: its own key and the keys under it",
			sels: []snapshot.Selector{rec("/app")},
			want: []snapshot.Span{ownKey("/app"), under("/app")},
		},
		{
			name: "disjoint reads come out sorted",
			sels: []snapshot.Selector{rec("/db"), one("/z"), rec("/app")},
			want: []snapshot.Span{ownKey("/app"), under("/app"), ownKey("/db"), under("/db"), key("/z")},
		},
		{
			name: "duplicate selectors become one span each, still optional",
			sels: []snapshot.Selector{rec("/app"), rec("/app"), one("/k"), one("/k")},
			want: []snapshot.Span{ownKey("/app"), under("/app"), key("/k")},
		},
		{
			name: "nested recursive reads fold into the outer one, own keys and all",
			sels: []snapshot.Selector{rec("/app/web"), rec("/app"), rec("/app/web/static")},
			want: []snapshot.Span{ownKey("/app"), under("/app")},
		},
		{
			name: "a single key inside a recursive read folds into it",
			sels: []snapshot.Selector{one("/app/web/port"), rec("/app")},
			want: []snapshot.Span{ownKey("/app"), under("/app")},
		},
		{
			name: "the key of a recursive read, read alone too, is not optional",
			sels: []snapshot.Selector{one("/app"), rec("/app/")},
			want: []snapshot.Span{key("/app"), under("/app")},
		},
		{
			name: "the same, the other way round",
			sels: []snapshot.Selector{rec("/app"), one("/app")},
			want: []snapshot.Span{key("/app"), under("/app")},
		},
		{
			name: "a sibling that sorts between /app and /app/ (/app-old) stays apart",
			sels: []snapshot.Selector{one("/app-old"), rec("/app")},
			want: []snapshot.Span{ownKey("/app"), key("/app-old"), under("/app")},
		},
		{
			name: "a recursive sibling between /app and /app/ stays apart",
			sels: []snapshot.Selector{rec("/app-old"), rec("/app")},
			want: []snapshot.Span{ownKey("/app"), ownKey("/app-old"), under("/app-old"), under("/app")},
		},
		{
			name: "a sibling that sorts after the range (/apple) stays apart",
			sels: []snapshot.Selector{rec("/apple"), rec("/app")},
			want: []snapshot.Span{ownKey("/app"), under("/app"), ownKey("/apple"), under("/apple")},
		},
		{
			// [/app/, /app0) and [/app0, /app0\x00) touch: only ranges
			// that overlap are merged.
			name: "touching ranges stay apart",
			sels: []snapshot.Selector{rec("/app"), rec("/app0")},
			want: []snapshot.Span{ownKey("/app"), under("/app"), ownKey("/app0"), under("/app0")},
		},
		{
			name: "touching single keys stay apart",
			sels: []snapshot.Selector{one("/a\x00"), one("/a")},
			want: []snapshot.Span{key("/a"), key("/a\x00")},
		},
		{
			name: "root swallows everything and is not optional",
			sels: []snapshot.Selector{rec("/app"), one("/x/y"), rec("/"), rec("/db/")},
			want: []snapshot.Span{span("/", "0")},
		},
		{
			name: "overlap chain: outer, nested, then a later disjoint read",
			sels: []snapshot.Selector{rec("/a/b"), rec("/a"), one("/a/c"), rec("/b"), one("/a/b/c")},
			want: []snapshot.Span{ownKey("/a"), under("/a"), ownKey("/b"), under("/b")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := snapshot.Cover(tt.sels)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Cover() = %#v, want %#v", got, tt.want)
			}
			s := &snapshot.Snapshot{Spans: got}
			for _, sel := range tt.sels {
				if !s.Covers(sel) {
					t.Errorf("the cover does not cover %+v", sel)
				}
			}
		})
	}
}

// TestCoverRandom checks Cover's promises on many random sets of
// selectors: spans sorted and disjoint (touching is allowed), every range
// of every selector inside one span, no span larger than the ranges that
// made it, and a span Optional exactly when every range in it is.
func TestCoverRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "b", "a0", "a-", "ab"}
	randKey := func() string {
		k := ""
		for range 1 + r.IntN(3) {
			k += "/" + parts[r.IntN(len(parts))]
		}
		if r.IntN(5) == 0 {
			k += "/"
		}
		return k
	}
	for i := range 500 {
		var sels []snapshot.Selector
		for range 1 + r.IntN(8) {
			sels = append(sels, snapshot.Selector{Key: randKey(), Recursive: r.IntN(2) == 0})
		}
		var rs []snapshot.Range
		for _, sel := range sels {
			rs = append(rs, sel.Ranges()...)
		}
		spans := snapshot.Cover(sels)
		desc := fmt.Sprintf("case %d %+v -> %#v", i, sels, spans)
		for j, sp := range spans {
			if sp.Start >= sp.End {
				t.Fatalf("%s: span %d is empty", desc, j)
			}
			if j > 0 && spans[j-1].End > sp.Start {
				t.Fatalf("%s: spans %d and %d overlap", desc, j-1, j)
			}
			if j > 0 && spans[j-1].Start >= sp.Start {
				t.Fatalf("%s: spans %d and %d are not sorted", desc, j-1, j)
			}
			// A span's bounds come from the selectors' own ranges, and it
			// is optional exactly when every range it holds is.
			startOK, endOK, inside, allOptional := false, false, 0, true
			for _, rg := range rs {
				startOK = startOK || rg.Start == sp.Start
				endOK = endOK || rg.End == sp.End
				if sp.Start <= rg.Start && rg.End <= sp.End {
					inside++
					allOptional = allOptional && rg.Optional
				}
			}
			if !startOK || !endOK {
				t.Fatalf("%s: span %d has bounds no selector asked for", desc, j)
			}
			if inside == 0 {
				t.Fatalf("%s: span %d holds no range", desc, j)
			}
			if sp.Optional != allOptional {
				t.Fatalf("%s: span %d Optional = %v, want %v", desc, j, sp.Optional, allOptional)
			}
		}
		s := &snapshot.Snapshot{Spans: spans}
		for _, sel := range sels {
			if !s.Covers(sel) {
				t.Fatalf("%s: %+v is not covered", desc, sel)
			}
			for _, rg := range sel.Ranges() {
				n := 0
				for _, sp := range spans {
					if sp.Start <= rg.Start && rg.End <= sp.End {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%s: range %#v of %+v lies in %d spans, want 1", desc, rg, sel, n)
				}
			}
		}
	}
}

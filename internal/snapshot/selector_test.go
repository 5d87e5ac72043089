package snapshot_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// TestSelector pins down which keys a selector reads (Match), the key
// ranges that hold exactly those keys (Ranges), the one coarse range a
// snapshot reads for it (Span) and the prefix of a recursive read, for the
// shapes a binding may write: a plain key, a recursive key with or without
// a trailing slash, and the root.
func TestSelector(t *testing.T) {
	rng := func(a, b string) snapshot.Range { return snapshot.Range{Start: a, End: b} }
	opt := func(a, b string) snapshot.Range { return snapshot.Range{Start: a, End: b, Optional: true} }
	tests := []struct {
		name       string
		sel        snapshot.Selector
		wantRanges []snapshot.Range
		wantSpan   snapshot.Range
		wantPrefix string
		match      []string
		// neighbours lie in Span but not in Ranges: read, never selected.
		neighbours []string
		// noMatch lie outside Span too: never read.
		noMatch []string
	}{
		{
			name:       "single key",
			sel:        snapshot.Selector{Key: "/app"},
			wantRanges: []snapshot.Range{rng("/app", "/app\x00")},
			wantSpan:   rng("/app", "/app\x00"),
			wantPrefix: "/app/",
			match:      []string{"/app"},
			noMatch:    []string{"/app/", "/app/x", "/apple", "/ap", "/app\x00"},
		},
		{
			name: "recursive key: its own key (optional) and the keys under key/, read as one range",
			sel:  snapshot.Selector{Key: "/app", Recursive: true},
			wantRanges: []snapshot.Range{
				opt("/app", "/app\x00"),
				rng("/app/", "/app0"),
			},
			wantSpan:   rng("/app", "/app0"),
			wantPrefix: "/app/",
			match:      []string{"/app", "/app/", "/app/x", "/app/x/y", "/app/\xff"},
			// /app-old, /app.d and /app\x00x sort between /app and /app/:
			// the coarse range holds them, no exact range does.
			neighbours: []string{"/app-old", "/app.d/x", "/app\x00", "/app\x00x"},
			noMatch:    []string{"/apple", "/app0", "/ap", "/", "app/x"},
		},
		{
			name:       "recursive key with trailing slash reads the same as without",
			sel:        snapshot.Selector{Key: "/app/", Recursive: true},
			wantRanges: []snapshot.Range{opt("/app", "/app\x00"), rng("/app/", "/app0")},
			wantSpan:   rng("/app", "/app0"),
			wantPrefix: "/app/",
			match:      []string{"/app", "/app/", "/app/x/y"},
			neighbours: []string{"/app-old"},
			noMatch:    []string{"/apple", "/app0"},
		},
		{
			name:       "nested recursive key",
			sel:        snapshot.Selector{Key: "/app/web", Recursive: true},
			wantRanges: []snapshot.Range{opt("/app/web", "/app/web\x00"), rng("/app/web/", "/app/web0")},
			wantSpan:   rng("/app/web", "/app/web0"),
			wantPrefix: "/app/web/",
			match:      []string{"/app/web", "/app/web/1"},
			neighbours: []string{"/app/web-old"},
			noMatch:    []string{"/app", "/app/web2", "/app/webx/1", "/app/db"},
		},
		{
			name:       "recursive root reads every key in one range, / included",
			sel:        snapshot.Selector{Key: "/", Recursive: true},
			wantRanges: []snapshot.Range{rng("/", "0")},
			wantSpan:   rng("/", "0"),
			wantPrefix: "/",
			match:      []string{"/", "/a", "/app/x", "/\xff"},
			noMatch:    []string{"a", "0", ""},
		},
		{
			name:       "root as a single key",
			sel:        snapshot.Selector{Key: "/"},
			wantRanges: []snapshot.Range{rng("/", "/\x00")},
			wantSpan:   rng("/", "/\x00"),
			wantPrefix: "/",
			match:      []string{"/"},
			noMatch:    []string{"/a", ""},
		},
		{
			name:       "single key with trailing slash is that exact key",
			sel:        snapshot.Selector{Key: "/app/"},
			wantRanges: []snapshot.Range{rng("/app/", "/app/\x00")},
			wantSpan:   rng("/app/", "/app/\x00"),
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
			sp := tt.sel.Span()
			if sp != tt.wantSpan {
				t.Errorf("Span() = %#v, want %#v", sp, tt.wantSpan)
			}
			if got := tt.sel.Prefix(); got != tt.wantPrefix {
				t.Errorf("Prefix() = %q, want %q", got, tt.wantPrefix)
			}
			// The span holds every exact range: a snapshot of it can
			// answer every read of the selector.
			for _, r := range rs {
				if r.Start < sp.Start || r.End > sp.End {
					t.Errorf("range %#v lies outside Span() %#v", r, sp)
				}
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
			inSpan := func(k string) bool { return sp.Start <= k && k < sp.End }
			for _, k := range tt.match {
				if !tt.sel.Match(k) {
					t.Errorf("Match(%q) = false, want true", k)
				}
				// Every key the selector reads must lie in one of its
				// ranges, or Select would miss it; in exactly one, or
				// Select would return it twice; and in its span, or a
				// snapshot would not read it.
				if n := in(k); n != 1 {
					t.Errorf("matched key %q lies in %d of the ranges %#v, want 1", k, n, rs)
				}
				if !inSpan(k) {
					t.Errorf("matched key %q lies outside Span() %#v", k, sp)
				}
			}
			for _, k := range tt.neighbours {
				if tt.sel.Match(k) {
					t.Errorf("Match(%q) = true, want false", k)
				}
				// Read with the span, but never selected: Select returns
				// the keys of the exact ranges only.
				if !inSpan(k) {
					t.Errorf("neighbour %q lies outside Span() %#v; the test means one inside", k, sp)
				}
				if n := in(k); n != 0 {
					t.Errorf("neighbour %q that the selector does not match lies in the ranges %#v", k, rs)
				}
			}
			for _, k := range tt.noMatch {
				if tt.sel.Match(k) {
					t.Errorf("Match(%q) = true, want false", k)
				}
				if inSpan(k) || in(k) != 0 {
					t.Errorf("key %q that the selector does not match lies in Span() %#v or the ranges %#v", k, sp, rs)
				}
			}
		})
	}
}

// TestCover checks that the reads of many bindings, one coarse range each
// (Selector.Span), are merged into the fewest disjoint spans, sorted by
// start, whatever order they come in: a recursive /app is the one span
// [/app, /app0), which swallows the neighbours that sort inside it (/app-old,
// /app.d) but not /apple; and no span is ever Optional.
func TestCover(t *testing.T) {
	rec := func(k string) snapshot.Selector { return snapshot.Selector{Key: k, Recursive: true} }
	one := func(k string) snapshot.Selector { return snapshot.Selector{Key: k} }
	span := func(a, b string) snapshot.Span { return snapshot.Span{Start: a, End: b} }
	// key is the span of one key, tree the span of a recursive key.
	key := func(k string) snapshot.Span { return span(k, k+"\x00") }
	tree := func(b string) snapshot.Span { return span(b, b+"0") }
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
			name: "a recursive read is one span: its own key and the keys under it",
			sels: []snapshot.Selector{rec("/app")},
			want: []snapshot.Span{tree("/app")},
		},
		{
			name: "disjoint reads come out sorted",
			sels: []snapshot.Selector{rec("/db"), one("/z"), rec("/app")},
			want: []snapshot.Span{tree("/app"), tree("/db"), key("/z")},
		},
		{
			name: "duplicate selectors become one span",
			sels: []snapshot.Selector{rec("/app"), rec("/app"), one("/k"), one("/k")},
			want: []snapshot.Span{tree("/app"), key("/k")},
		},
		{
			name: "nested recursive reads fold into the outer one",
			sels: []snapshot.Selector{rec("/app/web"), rec("/app"), rec("/app/web/static")},
			want: []snapshot.Span{tree("/app")},
		},
		{
			name: "a single key inside a recursive read folds into it",
			sels: []snapshot.Selector{one("/app/web/port"), rec("/app")},
			want: []snapshot.Span{tree("/app")},
		},
		{
			name: "the key of a recursive read, read alone too",
			sels: []snapshot.Selector{one("/app"), rec("/app/")},
			want: []snapshot.Span{tree("/app")},
		},
		{
			name: "the same, the other way round",
			sels: []snapshot.Selector{rec("/app"), one("/app")},
			want: []snapshot.Span{tree("/app")},
		},
		{
			name: "a sibling that sorts between /app and /app/ (/app-old) folds in",
			sels: []snapshot.Selector{one("/app-old"), rec("/app")},
			want: []snapshot.Span{tree("/app")},
		},
		{
			name: "recursive siblings between /app and /app/ fold in, trees and all",
			sels: []snapshot.Selector{rec("/app-old"), rec("/app"), rec("/app.d")},
			want: []snapshot.Span{tree("/app")},
		},
		{
			name: "a sibling that sorts after the range (/apple) stays apart",
			sels: []snapshot.Selector{rec("/apple"), rec("/app")},
			want: []snapshot.Span{tree("/app"), tree("/apple")},
		},
		{
			// [/app, /app0) and [/app0, /app00) touch: only ranges that
			// overlap are merged.
			name: "touching ranges stay apart",
			sels: []snapshot.Selector{rec("/app"), rec("/app0")},
			want: []snapshot.Span{tree("/app"), tree("/app0")},
		},
		{
			name: "touching single keys stay apart",
			sels: []snapshot.Selector{one("/a\x00"), one("/a")},
			want: []snapshot.Span{key("/a"), key("/a\x00")},
		},
		{
			name: "root swallows everything",
			sels: []snapshot.Selector{rec("/app"), one("/x/y"), rec("/"), rec("/db/")},
			want: []snapshot.Span{span("/", "0")},
		},
		{
			name: "overlap chain: outer, nested, then a later disjoint read",
			sels: []snapshot.Selector{rec("/a/b"), rec("/a"), one("/a/c"), rec("/b"), one("/a/b/c")},
			want: []snapshot.Span{tree("/a"), tree("/b")},
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

// TestCoverExact checks the cover of the exact ranges (Selector.Ranges)
// that the permission fallback reads: a recursive read is its own key,
// apart and Optional, and the keys under key/; siblings that sort between
// them stay apart; and a span is Optional only when every read in it is a
// recursive binding's own key.
func TestCoverExact(t *testing.T) {
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
			got := snapshot.CoverExact(tt.sels)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("CoverExact() = %#v, want %#v", got, tt.want)
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

// TestCoverRandom checks the promises of Cover and CoverExact on many
// random sets of selectors: spans sorted and disjoint (touching is
// allowed), every read of every selector (its Span, or its Ranges) inside
// exactly one span, and so every exact range too; no span larger than the
// reads that made it; and a span Optional exactly when every read in it
// is (never, for Cover).
func TestCoverRandom(t *testing.T) {
	parts := []string{"a", "b", "a0", "a-", "ab", "a.d"}
	covers := []struct {
		name  string
		cover func([]snapshot.Selector) []snapshot.Span
		reads func(snapshot.Selector) []snapshot.Range
	}{
		{"Cover", snapshot.Cover, func(s snapshot.Selector) []snapshot.Range { return []snapshot.Range{s.Span()} }},
		{"CoverExact", snapshot.CoverExact, snapshot.Selector.Ranges},
	}
	for _, cv := range covers {
		t.Run(cv.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
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
					rs = append(rs, cv.reads(sel)...)
				}
				spans := cv.cover(sels)
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
					// A span's bounds come from the selectors' reads, and
					// it is optional exactly when every read it holds is.
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
						t.Fatalf("%s: span %d holds no read", desc, j)
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
					for _, rg := range append(cv.reads(sel), sel.Ranges()...) {
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
		})
	}
}

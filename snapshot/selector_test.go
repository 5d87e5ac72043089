package snapshot_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/reconfig/reconfig/snapshot"
)

// TestSelector pins down which keys a selector reads (Match), where they
// live (Range) and the prefix of a recursive read, for the shapes a binding
// may write: a plain key, a recursive key with or without a trailing
// slash, and the root.
func TestSelector(t *testing.T) {
	tests := []struct {
		name       string
		sel        snapshot.Selector
		wantStart  string
		wantEnd    string
		wantPrefix string
		match      []string
		noMatch    []string
	}{
		{
			name:       "single key",
			sel:        snapshot.Selector{Key: "/app"},
			wantStart:  "/app",
			wantEnd:    "/app\x00",
			wantPrefix: "/app/",
			match:      []string{"/app"},
			noMatch:    []string{"/app/", "/app/x", "/apple", "/ap", "/app\x00"},
		},
		{
			name:       "recursive key",
			sel:        snapshot.Selector{Key: "/app", Recursive: true},
			wantStart:  "/app",
			wantEnd:    "/app0",
			wantPrefix: "/app/",
			match:      []string{"/app", "/app/", "/app/x", "/app/x/y", "/app/\xff"},
			noMatch:    []string{"/apple", "/app-old", "/app.d/x", "/app0", "/ap", "/", "app/x"},
		},
		{
			name:       "recursive key with trailing slash reads the same as without",
			sel:        snapshot.Selector{Key: "/app/", Recursive: true},
			wantStart:  "/app",
			wantEnd:    "/app0",
			wantPrefix: "/app/",
			match:      []string{"/app", "/app/", "/app/x/y"},
			noMatch:    []string{"/apple", "/app-old", "/app0"},
		},
		{
			name:       "nested recursive key",
			sel:        snapshot.Selector{Key: "/app/web", Recursive: true},
			wantStart:  "/app/web",
			wantEnd:    "/app/web0",
			wantPrefix: "/app/web/",
			match:      []string{"/app/web", "/app/web/1"},
			noMatch:    []string{"/app", "/app/web2", "/app/webx/1", "/app/db"},
		},
		{
			name:       "recursive root reads every key",
			sel:        snapshot.Selector{Key: "/", Recursive: true},
			wantStart:  "/",
			wantEnd:    "0",
			wantPrefix: "/",
			match:      []string{"/", "/a", "/app/x", "/\xff"},
			noMatch:    []string{"a", "0", ""},
		},
		{
			name:       "root as a single key",
			sel:        snapshot.Selector{Key: "/"},
			wantStart:  "/",
			wantEnd:    "/\x00",
			wantPrefix: "/",
			match:      []string{"/"},
			noMatch:    []string{"/a", ""},
		},
		{
			name:       "single key with trailing slash is that exact key",
			sel:        snapshot.Selector{Key: "/app/"},
			wantStart:  "/app/",
			wantEnd:    "/app/\x00",
			wantPrefix: "/app/",
			match:      []string{"/app/"},
			noMatch:    []string{"/app", "/app/x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := tt.sel.Range()
			if start != tt.wantStart || end != tt.wantEnd {
				t.Errorf("Range() = [%q, %q), want [%q, %q)", start, end, tt.wantStart, tt.wantEnd)
			}
			if got := tt.sel.Prefix(); got != tt.wantPrefix {
				t.Errorf("Prefix() = %q, want %q", got, tt.wantPrefix)
			}
			for _, k := range tt.match {
				if !tt.sel.Match(k) {
					t.Errorf("Match(%q) = false, want true", k)
				}
				// Every key the selector reads must lie in its range, or
				// a snapshot of the range would miss it.
				if k < start || k >= end {
					t.Errorf("matched key %q lies outside Range() [%q, %q)", k, start, end)
				}
			}
			for _, k := range tt.noMatch {
				if tt.sel.Match(k) {
					t.Errorf("Match(%q) = true, want false", k)
				}
			}
		})
	}
}

// TestCover checks that the reads of many bindings are merged into the
// fewest disjoint spans, sorted by start, whatever order they come in.
func TestCover(t *testing.T) {
	rec := func(k string) snapshot.Selector { return snapshot.Selector{Key: k, Recursive: true} }
	one := func(k string) snapshot.Selector { return snapshot.Selector{Key: k} }
	span := func(a, b string) snapshot.Span { return snapshot.Span{Start: a, End: b} }
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
			name: "disjoint reads come out sorted",
			sels: []snapshot.Selector{rec("/db"), one("/z"), rec("/app")},
			want: []snapshot.Span{span("/app", "/app0"), span("/db", "/db0"), span("/z", "/z\x00")},
		},
		{
			name: "duplicate selectors become one span",
			sels: []snapshot.Selector{rec("/app"), rec("/app"), one("/k"), one("/k")},
			want: []snapshot.Span{span("/app", "/app0"), span("/k", "/k\x00")},
		},
		{
			name: "nested recursive reads fold into the outer one",
			sels: []snapshot.Selector{rec("/app/web"), rec("/app"), rec("/app/web/static")},
			want: []snapshot.Span{span("/app", "/app0")},
		},
		{
			name: "a single key inside a recursive read folds into it",
			sels: []snapshot.Selector{one("/app/web/port"), rec("/app")},
			want: []snapshot.Span{span("/app", "/app0")},
		},
		{
			name: "the key of a recursive read, read alone too",
			sels: []snapshot.Selector{one("/app"), rec("/app/")},
			want: []snapshot.Span{span("/app", "/app0")},
		},
		{
			name: "a sibling that sorts inside the range (/app-old) folds in",
			sels: []snapshot.Selector{one("/app-old"), rec("/app")},
			want: []snapshot.Span{span("/app", "/app0")},
		},
		{
			name: "a sibling that sorts after the range (/apple) stays apart",
			sels: []snapshot.Selector{rec("/apple"), rec("/app")},
			want: []snapshot.Span{span("/app", "/app0"), span("/apple", "/apple0")},
		},
		{
			name: "touching ranges merge",
			sels: []snapshot.Selector{rec("/app"), rec("/app0")},
			want: []snapshot.Span{span("/app", "/app00")},
		},
		{
			name: "root swallows everything",
			sels: []snapshot.Selector{rec("/app"), one("/x/y"), rec("/"), rec("/db/")},
			want: []snapshot.Span{span("/", "0")},
		},
		{
			name: "overlap chain: outer, nested, then a later disjoint read",
			sels: []snapshot.Selector{rec("/a/b"), rec("/a"), one("/a/c"), rec("/b"), one("/a/b/c")},
			want: []snapshot.Span{span("/a", "/a0"), span("/b", "/b0")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := snapshot.Cover(tt.sels)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Cover() = %+v, want %+v", got, tt.want)
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
// selectors: spans sorted and disjoint (not even touching), every selector
// inside one span, and no span larger than the reads that made it.
func TestCoverRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "b", "a0", "a-", "ab"}
	randKey := func() string {
		k := ""
		for range 1 + r.IntN(3) {
			k += "/" + parts[r.IntN(len(parts))]
		}
		return k
	}
	for i := range 500 {
		var sels []snapshot.Selector
		for range 1 + r.IntN(8) {
			sels = append(sels, snapshot.Selector{Key: randKey(), Recursive: r.IntN(2) == 0})
		}
		spans := snapshot.Cover(sels)
		desc := fmt.Sprintf("case %d %+v -> %+v", i, sels, spans)
		for j, sp := range spans {
			if sp.Start >= sp.End {
				t.Fatalf("%s: span %d is empty", desc, j)
			}
			if j > 0 && spans[j-1].End >= sp.Start {
				t.Fatalf("%s: spans %d and %d overlap or touch", desc, j-1, j)
			}
			// A span's bounds come from the selectors' own bounds.
			startOK, endOK := false, false
			for _, sel := range sels {
				a, b := sel.Range()
				startOK = startOK || a == sp.Start
				endOK = endOK || b == sp.End
			}
			if !startOK || !endOK {
				t.Fatalf("%s: span %d has bounds no selector asked for", desc, j)
			}
		}
		s := &snapshot.Snapshot{Spans: spans}
		for _, sel := range sels {
			if !s.Covers(sel) {
				t.Fatalf("%s: %+v is not covered", desc, sel)
			}
		}
	}
}

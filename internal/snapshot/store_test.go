package snapshot

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Property tests of store: random changes are applied both to the store
// (directly, and through Snapshot.ApplySpan and Apply) and to a naive
// sorted slice, and the two must agree after every step. Chunks are made
// tiny so that a few dozen keys split, merge, empty and shrink them.

// chunkSizes are the values of maxChunk the tests run with: tiny ones to
// exercise the chunk list, and the real one.
var chunkSizes = []int{2, 3, 4, 7, 16, 512}

// withMaxChunk sets maxChunk for the rest of the test.
func withMaxChunk(t *testing.T, n int) {
	old := maxChunk
	maxChunk = n
	t.Cleanup(func() { maxChunk = old })
}

// checkStore fails the test unless s keeps its bounds: no chunk empty or
// longer than maxChunk, any two neighbours together longer than
// maxChunk/2, keys strictly sorted across chunks. It returns the
// key/values.
func checkStore(t *testing.T, s *store) []KV {
	t.Helper()
	var out []KV
	for c, ch := range s.chunks {
		if len(ch) == 0 || len(ch) > maxChunk {
			t.Fatalf("chunk %d of %d holds %d key/values (maxChunk %d)", c, len(s.chunks), len(ch), maxChunk)
		}
		if c > 0 && len(ch)+len(s.chunks[c-1]) <= maxChunk/2 {
			t.Fatalf("chunks %d and %d hold %d and %d key/values: not merged (maxChunk %d)", c-1, c, len(s.chunks[c-1]), len(ch), maxChunk)
		}
		for _, kv := range ch {
			if len(out) > 0 && out[len(out)-1].Key >= kv.Key {
				t.Fatalf("key %q follows %q", kv.Key, out[len(out)-1].Key)
			}
			out = append(out, kv)
		}
	}
	if s.chunks != nil && len(s.chunks) == 0 {
		t.Fatalf("an empty store keeps an empty chunk list")
	}
	if got := slices.Collect(s.all()); !slices.Equal(got, out) {
		t.Fatalf("all() yields %q, the chunks hold %q", got, out)
	}
	for kv := range s.all() {
		if kv != out[0] {
			t.Fatalf("all() yields %q first, want %q", kv, out[0])
		}
		break // and all stops
	}
	if s.len() != len(out) {
		t.Fatalf("len() = %d, the chunks hold %d", s.len(), len(out))
	}
	return out
}

// naiveBetween is the key/values of a sorted slice in [start, end).
func naiveBetween(kvs []KV, start, end string) []KV {
	var out []KV
	for _, kv := range kvs {
		if kv.Key >= start && kv.Key < end {
			out = append(out, kv)
		}
	}
	return out
}

// naiveSet puts or deletes a key in a sorted slice and reports whether
// that changed it.
func naiveSet(kvs []KV, key, value string, del bool) ([]KV, bool) {
	i, found := slices.BinarySearchFunc(kvs, key, func(kv KV, k string) int { return strings.Compare(kv.Key, k) })
	switch {
	case del && found:
		return slices.Delete(kvs, i, i+1), true
	case del, found && kvs[i].Value == value:
		return kvs, false
	case found:
		kvs[i].Value = value
		return kvs, true
	}
	return slices.Insert(kvs, i, KV{Key: key, Value: value}), true
}

// TestStoreMatchesSlice: puts (new keys, new values, the same value),
// deletes (of held and absent keys), in-order appends and clones, at
// random, leave a store holding what a sorted slice holds, within its
// bounds, and answering every range read alike.
func TestStoreMatchesSlice(t *testing.T) {
	for _, size := range chunkSizes {
		t.Run(fmt.Sprintf("maxChunk=%d", size), func(t *testing.T) {
			withMaxChunk(t, size)
			rng := rand.New(rand.NewPCG(uint64(size), 1))
			// Puts and deletes draw keys from k000 up to n, in-order
			// appends up to k499.
			key := func(n int) string { return fmt.Sprintf("k%03d", rng.IntN(n)) }
			var s store
			var want []KV
			var clones []store
			var cloned [][]KV
			for step := range 8000 {
				// Phases that grow and shrink the store, so that chunks
				// split, empty, merge and shrink.
				n := []int{40, 400, 400, 40}[step/2000]
				grow := step/2000 == 1 || step/2000 == 3 && step%2000 < 200
				switch op := rng.IntN(10); {
				case op < 4 || grow && op < 8:
					k, v := key(n), fmt.Sprint(rng.IntN(3))
					var changed bool
					want, changed = naiveSet(want, k, v, false)
					if got := s.put(k, v); got != changed {
						t.Fatalf("step %d: put(%s, %s) = %v, want %v", step, k, v, got, changed)
					}
				case op < 9:
					k := key(n + 100*rng.IntN(2))
					var changed bool
					want, changed = naiveSet(want, k, "", true)
					if got := s.delete(k); got != changed {
						t.Fatalf("step %d: delete(%s) = %v, want %v", step, k, got, changed)
					}
				case rng.IntN(20) == 0:
					// Go on with the clone, whose chunks are capped at
					// their length, and keep the original unchanged.
					clones = append(clones, s)
					cloned = append(cloned, slices.Clone(want))
					s = s.clone()
				default:
					// Append after the last key, as a load does.
					k := key(500)
					if last, ok := s.last(); ok && k <= last.Key {
						continue
					}
					s.add(KV{Key: k, Value: "added"})
					want = append(want, KV{Key: k, Value: "added"})
				}
				if got := checkStore(t, &s); !slices.Equal(got, want) {
					t.Fatalf("step %d:\n got %q\nwant %q", step, got, want)
				}
				for range 3 {
					a, b := key(n+100), key(n+100)
					if rng.IntN(4) == 0 {
						b = a + "\x00" // one key
					}
					got, w := s.between(a, b), naiveBetween(want, a, b)
					if !slices.Equal(got, w) {
						t.Fatalf("step %d: between(%s, %s) = %q, want %q", step, a, b, got, w)
					}
				}
			}
			// Changing a clone never reached into its original.
			for i := range clones {
				if got := checkStore(t, &clones[i]); !slices.Equal(got, cloned[i]) {
					t.Fatalf("store cloned at %d changed:\n got %q\nwant %q", i, got, cloned[i])
				}
			}
		})
	}
}

// TestStoreClonesChangeAlone: a clone and its original change apart, and
// a clone is laid out as its original (so that reflect.DeepEqual holds).
func TestStoreClonesChangeAlone(t *testing.T) {
	withMaxChunk(t, 4)
	var s store
	for i := range 20 {
		s.add(KV{Key: fmt.Sprintf("k%02d", i), Value: "v"})
	}
	c := s.clone()
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("clone %v differs from %v", c.chunks, s.chunks)
	}
	before := checkStore(t, &s)
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		c.put(k+"a", "new")
		c.put(k, "changed")
		if i%2 == 0 {
			c.delete(k)
		}
	}
	if got := checkStore(t, &s); !slices.Equal(got, before) {
		t.Errorf("changing the clone changed the original:\n got %q\nwant %q", got, before)
	}
	if (&store{}).clone().chunks != nil {
		t.Errorf("the clone of an empty store is not the zero store")
	}
}

// TestBetweenCopiesOnlyAcrossChunks: a range within one chunk is a slice
// of it, whichever chunk boundary its ends fall on; a range across chunks
// is one copy.
func TestBetweenCopiesOnlyAcrossChunks(t *testing.T) {
	withMaxChunk(t, 4)
	var s store
	for i := range 12 {
		s.add(KV{Key: fmt.Sprintf("k%02d", i), Value: "v"}) // chunks k00-k03, k04-k07, k08-k11
	}
	tests := []struct {
		name       string
		start, end string
		want       int // key/values
		allocs     float64
	}{
		{"one chunk, to the next chunk's first key", "k04", "k08", 4, 0},
		{"one chunk, from between chunks", "k03\x00", "k06", 2, 0},
		{"one chunk, past the last key", "k09", "z", 3, 0},
		{"one key", "k05", "k05\x00", 1, 0},
		{"across chunks", "k02", "k05", 3, 1},
		{"empty, between chunks", "k03\x00", "k04", 0, 0},
		{"empty, before every key", "a", "b", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.between(tt.start, tt.end); len(got) != tt.want {
				t.Errorf("between(%q, %q) = %q, want %d key/values", tt.start, tt.end, got, tt.want)
			}
			if a := testing.AllocsPerRun(10, func() { s.between(tt.start, tt.end) }); a != tt.allocs {
				t.Errorf("between(%q, %q) allocates %v times, want %v", tt.start, tt.end, a, tt.allocs)
			}
		})
	}
}

// naiveSnapshot is a snapshot as plain sorted slices, with ApplySpan and
// Apply written out from their documentation.
type naiveSnapshot struct {
	rev   int64
	spans []naiveSpan
}

type naiveSpan struct {
	start, end string
	rev        int64
	kvs        []KV
}

func (m *naiveSnapshot) clone() *naiveSnapshot {
	c := &naiveSnapshot{rev: m.rev, spans: slices.Clone(m.spans)}
	for i := range c.spans {
		c.spans[i].kvs = slices.Clone(c.spans[i].kvs)
	}
	return c
}

// applySpan: events at or below the span's revision (the snapshot's when
// never stamped) are dropped; the others change the keys of the span's
// range; the span's revision moves to the newest event, and so does the
// snapshot's, after pinning never stamped spans at the old one.
func (m *naiveSnapshot) applySpan(i int, events []Event) []string {
	sp := &m.spans[i]
	floor := sp.rev
	if floor == 0 {
		floor = m.rev
	}
	newest := floor
	var changed []string
	for _, ev := range events {
		if ev.Revision <= floor {
			continue
		}
		newest = max(newest, ev.Revision)
		if ev.Key < sp.start || ev.Key >= sp.end {
			continue
		}
		var ok bool
		if sp.kvs, ok = naiveSet(sp.kvs, ev.Key, ev.Value, ev.Delete); ok {
			changed = append(changed, ev.Key)
		}
	}
	sp.rev = newest
	if newest > m.rev {
		for j := range m.spans {
			if m.spans[j].rev == 0 {
				m.spans[j].rev = m.rev
			}
		}
		m.rev = newest
	}
	return changed
}

// apply routes each event to the span holding its key, spans in the order
// of their first event; the revision moves to the newest event.
func (m *naiveSnapshot) apply(events []Event) bool {
	newest := m.rev
	var order []int
	groups := map[int][]Event{}
	for _, ev := range events {
		newest = max(newest, ev.Revision)
		for i, sp := range m.spans {
			if ev.Key >= sp.start && ev.Key < sp.end {
				if _, ok := groups[i]; !ok {
					order = append(order, i)
				}
				groups[i] = append(groups[i], ev)
			}
		}
	}
	changed := false
	for _, i := range order {
		if len(m.applySpan(i, groups[i])) > 0 {
			changed = true
		}
	}
	m.rev = newest
	return changed
}

// compare fails the test unless s holds what m does: revisions, the
// key/values of every span, and what selectors read.
func compare(t *testing.T, what string, s *Snapshot, m *naiveSnapshot, sels []Selector) {
	t.Helper()
	if s.Revision != m.rev {
		t.Fatalf("%s: Revision = %d, want %d", what, s.Revision, m.rev)
	}
	n := 0
	for i := range s.Spans {
		sp, w := &s.Spans[i], m.spans[i]
		if sp.Rev != w.rev {
			t.Fatalf("%s: span %d Rev = %d, want %d", what, i, sp.Rev, w.rev)
		}
		if got := checkStore(t, &sp.kvs); !slices.Equal(got, w.kvs) {
			t.Fatalf("%s: span %d [%q, %q):\n got %q\nwant %q", what, i, sp.Start, sp.End, got, w.kvs)
		}
		if got := slices.Collect(sp.All()); !slices.Equal(got, w.kvs) || sp.Len() != len(w.kvs) {
			t.Fatalf("%s: span %d: All() = %q, Len() = %d; want %q", what, i, got, sp.Len(), w.kvs)
		}
		n += len(w.kvs)
	}
	if s.Len() != n {
		t.Fatalf("%s: Len() = %d, want %d", what, s.Len(), n)
	}
	for _, sel := range sels {
		got, err := s.Select(sel)
		if !s.Covers(sel) {
			if err == nil {
				t.Fatalf("%s: Select(%+v) of keys not covered: no error", what, sel)
			}
			continue
		}
		var want []KV
		for _, sp := range m.spans {
			for _, kv := range sp.kvs {
				if sel.Match(kv.Key) {
					want = append(want, kv)
				}
			}
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s: Select(%+v) = %q, %v; want %q", what, sel, got, err, want)
		}
		if !sel.Recursive {
			v, ok, err := s.Get(sel.Key)
			if err != nil || ok != (len(want) == 1) || ok && v != want[0].Value {
				t.Fatalf("%s: Get(%s) = %q, %v, %v; want %q", what, sel.Key, v, ok, err, want)
			}
		}
	}
}

// TestApplySpanMatchesSlice applies random batches of watch events —
// puts of new keys, new values and the same value, deletes of held and
// absent keys, re-puts of deleted keys, events at or below the span's
// revision, replayed batches, events outside the span — through ApplySpan
// and Apply, to a snapshot and to naive sorted slices, and compares the
// contents, the revisions and the changed keys after every batch. Clones
// taken on the way must not change.
func TestApplySpanMatchesSlice(t *testing.T) {
	sels := []Selector{{Key: "/a", Recursive: true}, {Key: "/b", Recursive: true}, {Key: "/c"}}
	// What compare reads: trees, a subtree, single keys, a neighbour in
	// a span that no selector reads, keys not covered.
	reads := []Selector{
		{Key: "/a", Recursive: true}, {Key: "/a/k1", Recursive: true}, {Key: "/a/k05"}, {Key: "/a"},
		{Key: "/b", Recursive: true}, {Key: "/b/k2"}, {Key: "/c"}, {Key: "/a-x"},
		{Key: "/c", Recursive: true}, {Key: "/z"},
	}
	for _, size := range chunkSizes {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("maxChunk=%d/seed=%d", size, seed), func(t *testing.T) {
				withMaxChunk(t, size)
				rng := rand.New(rand.NewPCG(seed, uint64(size)))
				keys := []string{"/a", "/a-x", "/c", "/c/x", "/z", "/0"}
				for i := range 60 {
					keys = append(keys, fmt.Sprintf("/a/k%02d", i), fmt.Sprintf("/b/k%02d", i%20))
				}
				// Load some keys of each span in order, as a read does.
				s := &Snapshot{Revision: 100, Spans: Cover(sels)}
				m := &naiveSnapshot{rev: 100}
				for i := range s.Spans {
					sp := &s.Spans[i]
					var kvs []KV
					for _, k := range slices.Sorted(slices.Values(keys)) {
						if k >= sp.Start && k < sp.End && rng.IntN(2) == 0 && !slices.ContainsFunc(kvs, func(kv KV) bool { return kv.Key == k }) {
							kvs = append(kvs, KV{Key: k, Value: "0"})
						}
					}
					if err := sp.Append(kvs...); err != nil {
						t.Fatal(err)
					}
					m.spans = append(m.spans, naiveSpan{start: sp.Start, end: sp.End, kvs: kvs})
				}
				if seed%2 == 0 {
					// Odd seeds leave the spans unstamped (Rev 0).
					s.Stamp()
					for i := range m.spans {
						m.spans[i].rev = m.rev
					}
				}
				compare(t, "loaded", s, m, reads)
				var clones []*Snapshot
				var cloned []*naiveSnapshot
				var last []Event
				for batch := range 600 {
					var events []Event
					if rng.IntN(20) == 0 && last != nil {
						events = last // a replayed batch
					} else {
						for range 1 + rng.IntN(4) {
							// Revisions about the newest: some at or
							// below a span's, some above.
							ev := Event{Revision: m.rev + int64(rng.IntN(8)) - 3, Key: keys[rng.IntN(len(keys))]}
							if rng.IntN(3) == 0 {
								ev.Delete = true
							} else {
								ev.Value = fmt.Sprint(rng.IntN(3))
							}
							events = append(events, ev)
						}
						slices.SortStableFunc(events, func(a, b Event) int { return int(a.Revision - b.Revision) })
					}
					last = events
					what := fmt.Sprintf("batch %d %+v", batch, events)
					if rng.IntN(3) == 0 {
						got, want := s.Apply(events), m.apply(events)
						if got != want {
							t.Fatalf("%s: Apply = %v, want %v", what, got, want)
						}
					} else {
						i := rng.IntN(len(s.Spans))
						got, want := s.ApplySpan(i, events), m.applySpan(i, events)
						if !slices.Equal(got, want) {
							t.Fatalf("%s: ApplySpan(%d) changed %q, want %q", what, i, got, want)
						}
					}
					compare(t, what, s, m, reads)
					if rng.IntN(50) == 0 {
						clones = append(clones, s.Clone())
						cloned = append(cloned, m.clone())
					}
				}
				for i := range clones {
					compare(t, fmt.Sprintf("clone %d", i), clones[i], cloned[i], reads)
				}
			})
		}
	}
}

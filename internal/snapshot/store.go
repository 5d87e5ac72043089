package snapshot

import (
	"iter"
	"slices"
	"sort"
)

// store is the key/values of one span, sorted by key: a list of sorted
// chunks, each holding keys that follow every key of the chunk before it.
// It replaces a single sorted slice, in which one put or delete shifted
// every key/value after it: deleting the 100,000 keys of a span one watch
// event at a time took seconds.
//
// What it promises, for a store of n key/values:
//
//   - Order: every key is held once; the chunks in turn yield the keys
//     sorted.
//   - Reads: a key is found by a binary search of the chunks' first keys
//     and one within its chunk, O(log n). between returns a key range
//     without copying when the range lies in one chunk (always, for a span
//     of up to maxChunk keys) and copies it otherwise, O(log n + k).
//   - Changes: put and delete find the key and move at most maxChunk
//     key/values within its chunk, O(log n + maxChunk). A full chunk
//     splits in halves; a chunk that empties is dropped, and neighbours
//     that hold at most maxChunk/2 together are merged. A split or merge
//     moves one chunk's key/values and the chunk headers after it
//     (n/maxChunk of them) and happens at most once per maxChunk/2 changes
//     around it: O(1 + n/maxChunk²) amortised per change.
//   - Bounds: no chunk is empty or longer than maxChunk, and any two
//     neighbours hold more than maxChunk/2 together, so n keys take at most
//     4n/maxChunk + 1 chunks. A chunk's capacity grows by doubling up to
//     maxChunk and halves when three quarters of it are unused.
//   - Loading: add appends in key order at the cost of appending to a
//     slice, and fills chunks to maxChunk.
//   - Memory: a span of a few keys is one chunk as large as the slice it
//     replaces, plus a list of one chunk header (24 bytes).
//
// The zero store is empty. A store is not safe for concurrent use while it
// changes, and a copy of the struct shares its chunks (clone copies them).
type store struct {
	chunks [][]KV
}

// maxChunk bounds the length of a chunk; at least 2. It is a variable so
// that tests can make chunks tiny, to split and merge them with a few keys.
var maxChunk = 512

// len is the number of key/values, O(n/maxChunk).
func (s *store) len() int {
	n := 0
	for _, ch := range s.chunks {
		n += len(ch)
	}
	return n
}

// last returns the greatest key/value; ok is false when s is empty.
func (s *store) last() (kv KV, ok bool) {
	if len(s.chunks) == 0 {
		return KV{}, false
	}
	ch := s.chunks[len(s.chunks)-1]
	return ch[len(ch)-1], true
}

// find returns where key is or would go: index i of chunk c, the last
// chunk whose first key is at most key (or the first chunk). i is
// len(chunk c) for a key between chunk c and the next. s must not be
// empty.
func (s *store) find(key string) (c, i int) {
	c = max(sort.Search(len(s.chunks), func(j int) bool { return s.chunks[j][0].Key > key })-1, 0)
	ch := s.chunks[c]
	return c, sort.Search(len(ch), func(j int) bool { return ch[j].Key >= key })
}

// all yields the key/values in key order.
func (s *store) all() iter.Seq[KV] {
	return func(yield func(KV) bool) {
		for _, ch := range s.chunks {
			for _, kv := range ch {
				if !yield(kv) {
					return
				}
			}
		}
	}
}

// between returns the key/values in [start, end), sorted, or nil: a slice
// of s's own memory when they lie in one chunk (it must not be modified,
// and changes with s), else a copy.
func (s *store) between(start, end string) []KV {
	if len(s.chunks) == 0 || start >= end {
		return nil
	}
	c0, i0 := s.find(start)
	if i0 == len(s.chunks[c0]) {
		if c0+1 == len(s.chunks) {
			return nil
		}
		c0, i0 = c0+1, 0
	}
	c1, i1 := s.find(end)
	if i1 == 0 && c1 > 0 {
		c1, i1 = c1-1, len(s.chunks[c1-1])
	}
	switch {
	case c0 > c1 || (c0 == c1 && i0 >= i1):
		return nil
	case c0 == c1:
		return s.chunks[c0][i0:i1:i1]
	}
	n := len(s.chunks[c0]) - i0 + i1
	for _, ch := range s.chunks[c0+1 : c1] {
		n += len(ch)
	}
	out := make([]KV, 0, n)
	out = append(out, s.chunks[c0][i0:]...)
	for _, ch := range s.chunks[c0+1 : c1] {
		out = append(out, ch...)
	}
	return append(out, s.chunks[c1][:i1]...)
}

// add appends kv; its key must follow every key of s.
func (s *store) add(kv KV) {
	n := len(s.chunks)
	switch {
	case n == 0:
		s.chunks = [][]KV{{kv}}
	case len(s.chunks[n-1]) < maxChunk:
		s.chunks[n-1] = insertAt(s.chunks[n-1], len(s.chunks[n-1]), kv)
	default:
		// Keys come in order: leave the full chunk full and make room
		// for a full next one.
		s.chunks = append(s.chunks, append(make([]KV, 0, maxChunk), kv))
	}
}

// put sets key to value and reports whether that changed s (false when
// key already held value).
func (s *store) put(key, value string) bool {
	if len(s.chunks) == 0 {
		s.add(KV{Key: key, Value: value})
		return true
	}
	c, i := s.find(key)
	ch := s.chunks[c]
	switch {
	case i < len(ch) && ch[i].Key == key && ch[i].Value == value:
		return false
	case i < len(ch) && ch[i].Key == key:
		ch[i].Value = value
	case c == len(s.chunks)-1 && i == len(ch):
		s.add(KV{Key: key, Value: value})
	case len(ch) < maxChunk:
		s.chunks[c] = insertAt(ch, i, KV{Key: key, Value: value})
	default:
		// Split the full chunk in halves and insert into one of them.
		half := len(ch) / 2
		right := append(make([]KV, 0, maxChunk), ch[half:]...)
		clear(ch[half:])
		left := ch[:half]
		if i <= half {
			left = insertAt(left, i, KV{Key: key, Value: value})
		} else {
			right = insertAt(right, i-half, KV{Key: key, Value: value})
		}
		s.chunks[c] = left
		s.chunks = slices.Insert(s.chunks, c+1, right)
	}
	return true
}

// delete removes key and reports whether s held it.
func (s *store) delete(key string) bool {
	if len(s.chunks) == 0 {
		return false
	}
	c, i := s.find(key)
	ch := s.chunks[c]
	if i == len(ch) || ch[i].Key != key {
		return false
	}
	ch = slices.Delete(ch, i, i+1)
	switch {
	case len(ch) == 0 && len(s.chunks) == 1:
		s.chunks = nil
		return true
	case len(ch) == 0:
		// Its neighbours now meet, but need no merge: each held more
		// than maxChunk/2 - 1 beside this chunk's one key.
		s.chunks = slices.Delete(s.chunks, c, c+1)
		return true
	case cap(ch) > 8 && len(ch) <= cap(ch)/4:
		ch = append(make([]KV, 0, 2*len(ch)), ch...)
	}
	s.chunks[c] = ch
	s.merge(c)
	s.merge(c - 1)
	return true
}

// merge joins chunks c and c+1 when they hold at most maxChunk/2
// key/values together.
func (s *store) merge(c int) {
	if c < 0 || c+1 >= len(s.chunks) {
		return
	}
	a, b := s.chunks[c], s.chunks[c+1]
	if len(a)+len(b) > maxChunk/2 {
		return
	}
	if cap(a)-len(a) < len(b) {
		a = grow(a, len(b))
	}
	s.chunks[c] = append(a, b...)
	s.chunks = slices.Delete(s.chunks, c+1, c+2)
}

// clone returns a deep copy of s. Its key/values are one allocation, each
// chunk capped at its length so that growing one copies it out.
func (s *store) clone() store {
	if s.chunks == nil {
		return store{}
	}
	all := make([]KV, 0, s.len())
	c := store{chunks: make([][]KV, len(s.chunks))}
	for i, ch := range s.chunks {
		from := len(all)
		all = append(all, ch...)
		c.chunks[i] = all[from:len(all):len(all)]
	}
	return c
}

// insertAt inserts kv at index i of ch, which is shorter than maxChunk.
func insertAt(ch []KV, i int, kv KV) []KV {
	if len(ch) == cap(ch) {
		ch = grow(ch, 1)
	}
	ch = ch[:len(ch)+1]
	copy(ch[i+1:], ch[i:])
	ch[i] = kv
	return ch
}

// grow returns a copy of ch with room for n more key/values: twice the
// capacity, but no more than maxChunk unless n needs it.
func grow(ch []KV, n int) []KV {
	return append(make([]KV, 0, max(len(ch)+n, min(2*cap(ch), maxChunk))), ch...)
}

package snapshot

import (
	"fmt"
	"iter"
	"sort"
	"strings"
)

// Selector names the keys one read covers: a single key, or (Recursive) the
// key itself plus every key under Key + "/".
type Selector struct {
	Key       string
	Recursive bool
}

// base is the key without a trailing slash ("/" stays "/").
func (s Selector) base() string {
	if s.Key == "/" {
		return s.Key
	}
	return strings.TrimSuffix(s.Key, "/")
}

// Prefix is the prefix a recursive selector reads under; it always ends in
// "/" so that /app never matches /apple.
func (s Selector) Prefix() string {
	b := s.base()
	if b == "/" {
		return b
	}
	return b + "/"
}

// Range is a half-open key range [Start, End) that a selector reads.
type Range struct {
	Start, End string
	// Optional marks the read of a recursive selector's own key: a role
	// allowed to read only under key/ may not read key itself, and then
	// the key counts as absent.
	Optional bool
}

// Ranges are the key ranges that hold exactly the keys the selector
// matches: the key itself, and for a recursive selector every key under
// key/ — two ranges, so /app never reads /app-old or /apple.
func (s Selector) Ranges() []Range {
	b := s.base()
	if !s.Recursive {
		return []Range{{Start: s.Key, End: s.Key + "\x00"}}
	}
	if b == "/" {
		// "/" itself is the first key of the prefix "/".
		return []Range{{Start: "/", End: "0"}}
	}
	// b + "0" is the first key after every b + "/..." ('0' follows '/').
	return []Range{{Start: b, End: b + "\x00", Optional: true}, {Start: b + "/", End: b + "0"}}
}

// Match reports whether key is one the selector reads.
func (s Selector) Match(key string) bool {
	if !s.Recursive {
		return key == s.Key
	}
	b := s.base()
	return key == b || strings.HasPrefix(key, s.Prefix())
}

// Span is a half-open key range [Start, End) and the key/values in it,
// sorted by key. The key/values are loaded with Append, read with All,
// Snapshot.Select and Snapshot.Get, and changed by Snapshot.ApplySpan in
// O(log n) amortised for a span of n (see store). A copy of a Span shares
// its key/values: copy them with Snapshot.Clone.
type Span struct {
	Start string
	End   string
	// kvs are the key/values, sorted by key, all in [Start, End).
	kvs store
	// Rev is the revision of the newest change the span holds: the
	// snapshot's revision, then the newest event of its watch. A watch of
	// the span resumes from Rev, and events at or below it are not applied
	// again.
	Rev int64
	// Seen is the revision a progress notification proved the span
	// current at (0: none since Rev). It never moves Rev: etcd before
	// 3.4.24 and 3.5.8 could send a progress notification ahead of events
	// of a watch still catching up, and those events must still apply.
	Seen int64
	// Optional is set when the span only holds recursive selectors' own
	// keys (see Range.Optional).
	Optional bool
	// Denied is set on an Optional span the user may not read: it counts
	// as empty and is not watched.
	Denied bool
}

// KV is one etcd key and its value.
type KV struct {
	Key   string
	Value string
}

// Append adds key/values after the span's last one, for loading a span in
// key order (a paged read of etcd, a snapshot file). Each key must lie in
// [Start, End) and sort after every key before it; at the first that does
// not, Append stops with an error and keeps the key/values before it.
func (sp *Span) Append(kvs ...KV) error {
	for _, kv := range kvs {
		if kv.Key < sp.Start || kv.Key >= sp.End {
			return fmt.Errorf("key %q lies outside the range [%q, %q)", kv.Key, sp.Start, sp.End)
		}
		if last, ok := sp.kvs.last(); ok && kv.Key <= last.Key {
			return fmt.Errorf("key %q does not sort after %q", kv.Key, last.Key)
		}
		sp.kvs.add(kv)
	}
	return nil
}

// Len is the number of key/values in the span.
func (sp *Span) Len() int { return sp.kvs.len() }

// All yields the span's key/values in key order. The span must not change
// during the iteration.
func (sp *Span) All() iter.Seq[KV] { return sp.kvs.all() }

// contains reports whether the span's range holds [start, end).
func (sp *Span) contains(start, end string) bool {
	return sp.Start <= start && end <= sp.End
}

// Span is the one range that holds every key the selector matches: for a
// recursive /app, [/app, /app0) — which also holds neighbours like /app-old
// that Select leaves out. Reading and watching one range per binding
// instead of two halves the requests and watchers.
func (s Selector) Span() Range {
	b := s.base()
	switch {
	case !s.Recursive:
		return Range{Start: s.Key, End: s.Key + "\x00"}
	case b == "/":
		return Range{Start: "/", End: "0"}
	}
	return Range{Start: b, End: b + "0"}
}

// Cover merges the reads of the selectors (one range each, Selector.Span)
// into the fewest disjoint spans, sorted by start key, with no key/values
// yet. Nested and overlapping reads (/app and /app/web, or two bindings
// reading one key) become one span, so a key is read once however many
// bindings read it.
func Cover(sels []Selector) []Span {
	rs := make([]Range, 0, len(sels))
	for _, s := range sels {
		rs = append(rs, s.Span())
	}
	return merge(rs)
}

// CoverExact is Cover with the exact ranges of the selectors
// (Selector.Ranges): a recursive key's own key apart from its prefix, and
// marked Optional. It is for a user whose role may read key/ but not key.
func CoverExact(sels []Selector) []Span {
	var rs []Range
	for _, s := range sels {
		rs = append(rs, s.Ranges()...)
	}
	return merge(rs)
}

// merge sorts ranges and joins the overlapping ones.
func merge(rs []Range) []Span {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Start != rs[j].Start {
			return rs[i].Start < rs[j].Start
		}
		return rs[i].End > rs[j].End
	})
	var out []Span
	for _, r := range rs {
		if n := len(out); n > 0 && r.Start < out[n-1].End {
			if r.End > out[n-1].End {
				out[n-1].End = r.End
			}
			out[n-1].Optional = out[n-1].Optional && r.Optional
			continue
		}
		out = append(out, Span{Start: r.Start, End: r.End, Optional: r.Optional})
	}
	return out
}

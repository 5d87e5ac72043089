package snapshot

import (
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

// Range is the half-open key range [start, end) that holds every key the
// selector matches. A recursive range may also hold keys the selector does
// not match (for /app: /app-old), which Match filters out.
func (s Selector) Range() (start, end string) {
	b := s.base()
	if !s.Recursive {
		return s.Key, s.Key + "\x00"
	}
	if b == "/" {
		return "/", "0"
	}
	// b + "0" is the first key after every b + "/..." ('0' follows '/').
	return b, b + "0"
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
// sorted by key.
type Span struct {
	Start string
	End   string
	KVs   []KV
	// Rev is the revision the span is known to be current at: the
	// snapshot's revision, then the newest event or progress notification
	// of its watch. A watch of the span resumes at Rev + 1.
	Rev int64
}

// KV is one etcd key and its value.
type KV struct {
	Key   string
	Value string
}

// contains reports whether the span's range holds [start, end).
func (sp *Span) contains(start, end string) bool {
	return sp.Start <= start && end <= sp.End
}

// Cover merges the ranges of the selectors into the fewest disjoint spans,
// sorted by start key, with no key/values yet. Nested and overlapping reads
// (/app and /app/web, or two bindings reading one key) become one span, so a
// key is read once however many bindings read it.
func Cover(sels []Selector) []Span {
	type rng struct{ start, end string }
	rs := make([]rng, 0, len(sels))
	for _, s := range sels {
		a, b := s.Range()
		rs = append(rs, rng{a, b})
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].start != rs[j].start {
			return rs[i].start < rs[j].start
		}
		return rs[i].end > rs[j].end
	})
	var out []Span
	for _, r := range rs {
		if n := len(out); n > 0 && r.start <= out[n-1].End {
			if r.end > out[n-1].End {
				out[n-1].End = r.end
			}
			continue
		}
		out = append(out, Span{Start: r.start, End: r.end})
	}
	return out
}

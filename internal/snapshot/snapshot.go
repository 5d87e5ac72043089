package snapshot

import (
	"fmt"
	"sort"
	"strings"
)

// Snapshot is the data of a set of key ranges at one etcd revision.
type Snapshot struct {
	// Revision is the etcd revision every key/value was read at (or, after
	// events were applied, the revision of the newest event).
	Revision int64
	// ClusterID is the etcd cluster's id in hex, "" when unknown.
	ClusterID string
	// Prefix is the namespace the keys were read under; keys are stored
	// without it.
	Prefix string
	// Spans are disjoint and sorted by Start.
	Spans []Span
	// Omitted are ranges whose values were left out (Omit): sorted,
	// disjoint, and read as an *ErrOmitted.
	Omitted []Range
}

// find returns the index of the span whose range holds [start, end), or
// -1.
func (s *Snapshot) find(start, end string) int {
	i := sort.Search(len(s.Spans), func(i int) bool { return s.Spans[i].End > start })
	if i < len(s.Spans) && s.Spans[i].contains(start, end) {
		return i
	}
	return -1
}

// span returns the span whose range holds [start, end), or nil.
func (s *Snapshot) span(start, end string) *Span {
	if i := s.find(start, end); i >= 0 {
		return &s.Spans[i]
	}
	return nil
}

// ErrNotCovered is returned for a read of keys the snapshot was not taken
// for.
type ErrNotCovered struct{ Key string }

func (e *ErrNotCovered) Error() string {
	return fmt.Sprintf("the snapshot does not contain key %s", e.Key)
}

// Select returns the key/values sel matches, sorted by key: O(log n + k)
// for k of them in a span of n. The slice must not be modified; it may
// share memory with the snapshot, and then changes when the snapshot does.
func (s *Snapshot) Select(sel Selector) ([]KV, error) {
	rs := sel.Ranges()
	var out []KV
	for _, r := range rs {
		sp := s.span(r.Start, r.End)
		if sp == nil {
			return nil, &ErrNotCovered{Key: sel.Key}
		}
		if len(s.Omitted) > 0 && s.omits(r.Start, r.End) {
			return nil, &ErrOmitted{Key: sel.Key}
		}
		kvs := sp.kvs.between(r.Start, r.End)
		if len(out) == 0 {
			out = kvs
			continue
		}
		if len(kvs) == 0 {
			continue
		}
		// Ranges are ordered and disjoint: appending keeps keys sorted.
		out = append(out[:len(out):len(out)], kvs...)
	}
	return out, nil
}

// Get returns the value of one key. ok is false when the key is absent; err
// is set when the snapshot does not cover the key.
func (s *Snapshot) Get(key string) (value string, ok bool, err error) {
	kvs, err := s.Select(Selector{Key: key})
	if err != nil || len(kvs) == 0 {
		return "", false, err
	}
	return kvs[0].Value, true, nil
}

// Len is the number of key/values in the snapshot.
func (s *Snapshot) Len() int {
	n := 0
	for i := range s.Spans {
		n += s.Spans[i].Len()
	}
	return n
}

// Event is one change from the etcd watch stream.
type Event struct {
	Revision int64
	Key      string
	Value    string
	Delete   bool
}

// Clone returns a deep copy whose spans can be changed without touching s.
func (s *Snapshot) Clone() *Snapshot {
	c := *s
	c.Spans = make([]Span, len(s.Spans))
	for i, sp := range s.Spans {
		c.Spans[i] = sp // every field, Rev included
		c.Spans[i].kvs = sp.kvs.clone()
	}
	return &c
}

// Describe names the prefix-qualified key for messages: "/p/app" under
// --prefix /p.
func (s *Snapshot) Describe(key string) string {
	if s.Prefix == "" {
		return key
	}
	return strings.TrimSuffix(s.Prefix, "/") + key
}

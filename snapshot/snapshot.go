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
}

// span returns the span whose range holds [start, end), or nil.
func (s *Snapshot) span(start, end string) *Span {
	i := sort.Search(len(s.Spans), func(i int) bool { return s.Spans[i].End > start })
	if i < len(s.Spans) && s.Spans[i].contains(start, end) {
		return &s.Spans[i]
	}
	return nil
}

// Covers reports whether the snapshot holds every key sel can match, so
// that a key missing from it is truly absent from etcd.
func (s *Snapshot) Covers(sel Selector) bool {
	a, b := sel.Range()
	return s.span(a, b) != nil
}

// ErrNotCovered is returned for a read of keys the snapshot was not taken
// for.
type ErrNotCovered struct{ Key string }

func (e *ErrNotCovered) Error() string {
	return fmt.Sprintf("the snapshot does not contain key %s", e.Key)
}

// Select returns the key/values sel matches, sorted by key. The slice must
// not be modified.
func (s *Snapshot) Select(sel Selector) ([]KV, error) {
	a, b := sel.Range()
	sp := s.span(a, b)
	if sp == nil {
		return nil, &ErrNotCovered{Key: sel.Key}
	}
	lo := sort.Search(len(sp.KVs), func(i int) bool { return sp.KVs[i].Key >= a })
	hi := lo + sort.Search(len(sp.KVs)-lo, func(i int) bool { return sp.KVs[lo+i].Key >= b })
	kvs := sp.KVs[lo:hi]
	if !sel.Recursive {
		return kvs, nil
	}
	// Drop the keys of the range that the selector does not match
	// (/app-old in the range of /app). Copy only when there are any.
	for i, kv := range kvs {
		if !sel.Match(kv.Key) {
			out := append([]KV(nil), kvs[:i]...)
			for _, kv := range kvs[i+1:] {
				if sel.Match(kv.Key) {
					out = append(out, kv)
				}
			}
			return out, nil
		}
	}
	return kvs, nil
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
		n += len(s.Spans[i].KVs)
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

// Apply updates the snapshot with events and reports whether any of them
// fell inside its spans. Events at or below the snapshot's revision are
// ignored (the snapshot already holds them). The revision moves to the
// newest event.
func (s *Snapshot) Apply(events []Event) bool {
	changed := false
	for _, ev := range events {
		if ev.Revision <= s.Revision {
			continue
		}
		if s.apply(ev) {
			changed = true
		}
	}
	for _, ev := range events {
		if ev.Revision > s.Revision {
			s.Revision = ev.Revision
		}
	}
	return changed
}

func (s *Snapshot) apply(ev Event) bool {
	sp := s.span(ev.Key, ev.Key+"\x00")
	if sp == nil {
		return false
	}
	i := sort.Search(len(sp.KVs), func(i int) bool { return sp.KVs[i].Key >= ev.Key })
	found := i < len(sp.KVs) && sp.KVs[i].Key == ev.Key
	switch {
	case ev.Delete && found:
		sp.KVs = append(sp.KVs[:i], sp.KVs[i+1:]...)
	case ev.Delete:
		return false
	case found:
		sp.KVs[i].Value = ev.Value
	default:
		sp.KVs = append(sp.KVs, KV{})
		copy(sp.KVs[i+1:], sp.KVs[i:])
		sp.KVs[i] = KV{Key: ev.Key, Value: ev.Value}
	}
	return true
}

// Clone returns a deep copy whose spans can be changed without touching s.
func (s *Snapshot) Clone() *Snapshot {
	c := *s
	c.Spans = make([]Span, len(s.Spans))
	for i, sp := range s.Spans {
		c.Spans[i] = sp // every field, Rev included
		c.Spans[i].KVs = append([]KV(nil), sp.KVs...)
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

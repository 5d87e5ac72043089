package snapshot

import "sort"

// Stamp marks every span as current at the snapshot's revision; a reader
// calls it once all spans are read.
func (s *Snapshot) Stamp() {
	for i := range s.Spans {
		s.Spans[i].Rev = s.Revision
	}
}

// SpanOf returns the index of the span that holds every key sel can
// match, or -1.
func (s *Snapshot) SpanOf(sel Selector) int {
	a, b := sel.Range()
	i := sort.Search(len(s.Spans), func(i int) bool { return s.Spans[i].End > a })
	if i < len(s.Spans) && s.Spans[i].contains(a, b) {
		return i
	}
	return -1
}

// ApplySpan updates span i with events from its watch and returns the keys
// whose value changed (put with a new value, or deleted). Events at or
// below the span's revision are already in it and are dropped, so a
// resumed watch never applies a change twice. The snapshot's revision
// moves to the newest event.
func (s *Snapshot) ApplySpan(i int, events []Event) []string {
	sp := &s.Spans[i]
	var changed []string
	newest := sp.Rev
	for _, ev := range events {
		if ev.Revision <= sp.Rev {
			continue
		}
		if ev.Key >= sp.Start && ev.Key < sp.End && s.applyTo(sp, ev) {
			changed = append(changed, ev.Key)
		}
		newest = max(newest, ev.Revision)
	}
	sp.Rev = newest
	s.Revision = max(s.Revision, newest)
	return changed
}

// Progress records that span i has seen every change up to rev.
func (s *Snapshot) Progress(i int, rev int64) {
	if i >= 0 && i < len(s.Spans) && rev > s.Spans[i].Rev {
		s.Spans[i].Rev = rev
	}
}

// applyTo applies one event to a span and reports whether the value of
// its key changed.
func (s *Snapshot) applyTo(sp *Span, ev Event) bool {
	i := sort.Search(len(sp.KVs), func(i int) bool { return sp.KVs[i].Key >= ev.Key })
	found := i < len(sp.KVs) && sp.KVs[i].Key == ev.Key
	switch {
	case ev.Delete && found:
		sp.KVs = append(sp.KVs[:i], sp.KVs[i+1:]...)
	case ev.Delete:
		return false
	case found && sp.KVs[i].Value == ev.Value:
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

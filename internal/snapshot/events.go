package snapshot

import "sort"

// Stamp marks every span as current at the snapshot's revision; a reader
// calls it once all spans are read.
func (s *Snapshot) Stamp() {
	for i := range s.Spans {
		s.Spans[i].Rev = s.Revision
	}
}

// SpansOf returns the indexes of the spans that hold the keys sel can
// match (none when the snapshot does not cover it).
func (s *Snapshot) SpansOf(sel Selector) []int {
	var out []int
	for _, r := range sel.Ranges() {
		i := sort.Search(len(s.Spans), func(i int) bool { return s.Spans[i].End > r.Start })
		if i == len(s.Spans) || !s.Spans[i].contains(r.Start, r.End) {
			return nil
		}
		if len(out) == 0 || out[len(out)-1] != i {
			out = append(out, i)
		}
	}
	return out
}

// ApplySpan updates span i with events from its watch and returns the keys
// whose value changed (put with a new value, or deleted). Events at or
// below the span's revision are already in it and are dropped, so a
// resumed watch never applies a change twice. The snapshot's revision
// moves to the newest event.
func (s *Snapshot) ApplySpan(i int, events []Event) []string {
	sp := &s.Spans[i]
	var changed []string
	floor := sp.Rev
	if floor == 0 {
		// Never stamped: as current as the snapshot.
		floor = s.Revision
	}
	newest := floor
	for _, ev := range events {
		if ev.Revision <= floor {
			continue
		}
		if ev.Key >= sp.Start && ev.Key < sp.End && sp.apply(ev) {
			changed = append(changed, ev.Key)
		}
		newest = max(newest, ev.Revision)
	}
	sp.Rev = newest
	if newest > s.Revision {
		// Spans never stamped were current at the old revision: pin them
		// there before it moves, or their own older events would be lost.
		for j := range s.Spans {
			if s.Spans[j].Rev == 0 {
				s.Spans[j].Rev = s.Revision
			}
		}
		s.Revision = newest
	}
	return changed
}

// Progress records that span i has seen every change up to rev.
func (s *Snapshot) Progress(i int, rev int64) {
	if i >= 0 && i < len(s.Spans) && rev > s.Spans[i].Seen {
		s.Spans[i].Seen = rev
	}
}

// Current is the revision up to which the span is known to hold every
// change: its newest event, or a later progress notification.
func (sp *Span) Current() int64 { return max(sp.Rev, sp.Seen) }

// apply applies one event to the span and reports whether the value of
// its key changed: O(log n) (see store).
func (sp *Span) apply(ev Event) bool {
	if ev.Delete {
		return sp.kvs.delete(ev.Key)
	}
	return sp.kvs.put(ev.Key, ev.Value)
}

// Apply routes events to the spans that hold their keys (ApplySpan) and
// reports whether any stored value changed. Events outside every span only
// move the snapshot's revision.
func (s *Snapshot) Apply(events []Event) bool {
	groups := map[int][]Event{}
	var order []int
	for _, ev := range events {
		i := sort.Search(len(s.Spans), func(i int) bool { return s.Spans[i].End > ev.Key })
		if i < len(s.Spans) && s.Spans[i].Start <= ev.Key {
			if _, ok := groups[i]; !ok {
				order = append(order, i)
			}
			groups[i] = append(groups[i], ev)
		}
	}
	newest := s.Revision
	for _, ev := range events {
		newest = max(newest, ev.Revision)
	}
	changed := false
	for _, i := range order {
		if len(s.ApplySpan(i, groups[i])) > 0 {
			changed = true
		}
	}
	s.Revision = newest
	return changed
}

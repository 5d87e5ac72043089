package snapshot

import (
	"fmt"
	"sort"
)

// ErrOmitted is returned for a read of keys whose values were left out of
// the snapshot (the values of sensitive bindings, which `snapshot save`
// does not write unless asked).
type ErrOmitted struct{ Key string }

func (e *ErrOmitted) Error() string {
	return fmt.Sprintf("the snapshot leaves out the values of %s", e.Key)
}

// Omit drops the key/values in the ranges (sorted, disjoint) and records
// them as omitted: a later read that touches them is an *ErrOmitted, never
// an "absent" that would render a different file.
func (s *Snapshot) Omit(ranges []Range) {
	if len(ranges) == 0 {
		return
	}
	omitted := func(key string) bool {
		i := sort.Search(len(ranges), func(i int) bool { return ranges[i].End > key })
		return i < len(ranges) && ranges[i].Start <= key
	}
	for i := range s.Spans {
		sp := &s.Spans[i]
		kept := Span{Start: sp.Start, End: sp.End, Rev: sp.Rev, Seen: sp.Seen, Optional: sp.Optional, Denied: sp.Denied}
		for kv := range sp.All() {
			if !omitted(kv.Key) {
				kept.Append(kv)
			}
		}
		*sp = kept
	}
	s.Omitted = append(s.Omitted, ranges...)
	s.Omitted = normalize(s.Omitted)
}

// Omits reports whether the snapshot left out values sel reads.
func (s *Snapshot) Omits(sel Selector) bool {
	for _, r := range sel.Ranges() {
		if s.omits(r.Start, r.End) {
			return true
		}
	}
	return false
}

// omits reports whether [start, end) overlaps an omitted range.
func (s *Snapshot) omits(start, end string) bool {
	i := sort.Search(len(s.Omitted), func(i int) bool { return s.Omitted[i].End > start })
	return i < len(s.Omitted) && s.Omitted[i].Start < end
}

// Subtract returns the parts of the ranges a that no range of b covers,
// sorted and disjoint.
func Subtract(a, b []Range) []Range {
	a, b = normalize(a), normalize(b)
	var out []Range
	j := 0
	for _, r := range a {
		start := r.Start
		for j < len(b) && b[j].End <= start {
			j++
		}
		for k := j; k < len(b) && b[k].Start < r.End; k++ {
			if b[k].Start > start {
				out = append(out, Range{Start: start, End: b[k].Start})
			}
			if b[k].End > start {
				start = b[k].End
			}
		}
		if start < r.End {
			out = append(out, Range{Start: start, End: r.End})
		}
	}
	return out
}

// normalize sorts ranges and merges the overlapping ones.
func normalize(rs []Range) []Range {
	var out []Range
	for _, sp := range merge(append([]Range(nil), rs...)) {
		out = append(out, Range{Start: sp.Start, End: sp.End})
	}
	return out
}

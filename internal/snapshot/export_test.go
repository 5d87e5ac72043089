package snapshot

// Covers reports whether the snapshot holds every key sel can match, so
// that a key missing from it is truly absent from etcd.
func (s *Snapshot) Covers(sel Selector) bool {
	for _, r := range sel.Ranges() {
		if s.span(r.Start, r.End) == nil {
			return false
		}
	}
	return true
}

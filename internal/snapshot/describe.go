package snapshot

import "fmt"

// Describe names the span's keys for an operator: "/app" for one key, "the
// keys under /app/" for a prefix, "/app and the keys under /app/" for a
// recursive key, else the range.
func (sp *Span) Describe() string {
	switch {
	case sp.End == sp.Start+"\x00":
		return sp.Start
	case sp.End == sp.Start+"0":
		// A recursive key's own key and the keys under key/.
		return sp.Start + " and the keys under " + sp.Start + "/"
	case sp.End == prefixEnd(sp.Start):
		return "the keys under " + sp.Start
	}
	return fmt.Sprintf("the keys from %s up to %s", sp.Start, sp.End)
}

// prefixEnd is the first key after every key that starts with prefix.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}

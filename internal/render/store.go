package render

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// store is every key/value a binding may see, sorted by key. Its look-ups
// binary-search the keys: getv and exists cost O(log n), gets and getvs
// O(log n + the keys under the pattern's literal prefix, one per subtree
// too deep to match), ls and lsdir O(children · log n).
type store struct {
	kvs  []snapshot.KV
	sels []snapshot.Selector
	// size is the bytes of the keys and values.
	size int64
}

// search returns the index of the first key at or after from that is not
// less than key.
func (s *store) search(key string, from int) int {
	return from + sort.Search(len(s.kvs)-from, func(i int) bool { return s.kvs[from+i].Key >= key })
}

func (s *store) declared(key string) bool {
	for _, sel := range s.sels {
		if sel.Match(key) {
			return true
		}
	}
	return false
}

func (s *store) lookup(key string) (string, bool) {
	i := s.search(key, 0)
	if i < len(s.kvs) && s.kvs[i].Key == key {
		return s.kvs[i].Value, true
	}
	return "", false
}

func (s *store) missing(key string) error {
	return &KeyError{Key: key, Undeclared: !s.declared(key)}
}

func (s *store) getv(key string, def ...string) (string, error) {
	if v, ok := s.lookup(key); ok {
		return v, nil
	}
	if len(def) > 0 {
		return def[0], nil
	}
	return "", s.missing(key)
}

func (s *store) get(key string) (KVPair, error) {
	if v, ok := s.lookup(key); ok {
		return KVPair{key, v}, nil
	}
	return KVPair{}, s.missing(key)
}

func (s *store) exists(key string) bool {
	_, ok := s.lookup(key)
	return ok
}

// literalPrefix is the part of a path.Match pattern before its first
// meta character: every name the pattern matches starts with it.
func literalPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// nthSlash returns the index of the n-th "/" of s (n ≥ 1), or -1.
func nthSlash(s string, n int) int {
	off := 0
	for {
		i := strings.IndexByte(s[off:], '/')
		if i < 0 {
			return -1
		}
		if n--; n == 0 {
			return off + i
		}
		off += i + 1
	}
}

// gets returns the key/values whose key matches pattern, sorted by key.
//
// Only the keys that start with the pattern's literal prefix can match,
// and they are contiguous. Past the prefix, "*" and "?" never match a "/",
// so a key can only match if the rest of it has no more slashes than the
// rest of the pattern has "/" and "[" (a class may match a "/"): the
// subtree of a deeper key is skipped with one more search.
func (s *store) gets(pattern string) ([]KVPair, error) {
	out := []KVPair{}
	if len(s.kvs) == 0 {
		return out, nil
	}
	// A malformed pattern fails path.Match whatever the name.
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	prefix := literalPrefix(pattern)
	rest := pattern[len(prefix):]
	maxSlashes := strings.Count(rest, "/") + strings.Count(rest, "[")
	for i := s.search(prefix, 0); i < len(s.kvs) && strings.HasPrefix(s.kvs[i].Key, prefix); {
		kv := s.kvs[i]
		if j := nthSlash(kv.Key[len(prefix):], maxSlashes+1); j >= 0 {
			// Every key under kv.Key[:len(prefix)+j+1] is as deep.
			i = s.search(kv.Key[:len(prefix)+j]+"0", i+1)
			continue
		}
		if ok, _ := path.Match(pattern, kv.Key); ok {
			out = append(out, KVPair{kv.Key, kv.Value})
		}
		i++
	}
	return out, nil
}

func (s *store) getvs(pattern string) ([]string, error) {
	kvs, err := s.gets(pattern)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Value
	}
	sort.Strings(out)
	return out, nil
}

// ls lists the names directly under dir (confd's ls, but /app never lists
// /apple's children).
func (s *store) ls(dir string) []string {
	return s.children(dir, false)
}

// lsdir lists the names directly under dir that have keys below them.
func (s *store) lsdir(dir string) []string {
	return s.children(dir, true)
}

// children visits one key per child of dir: after a child NAME with keys
// below it, it searches for the first key after DIR/NAME/…, which is
// DIR/NAME0 ("0" follows "/").
func (s *store) children(dir string, dirsOnly bool) []string {
	seen := map[string]bool{}
	out := []string{}
	if _, ok := s.lookup(dir); ok && !dirsOnly {
		out = append(out, path.Base(dir))
		seen[path.Base(dir)] = true
	}
	p := strings.TrimSuffix(dir, "/") + "/"
	for i := s.search(p, 0); i < len(s.kvs) && strings.HasPrefix(s.kvs[i].Key, p); {
		name, _, deeper := strings.Cut(s.kvs[i].Key[len(p):], "/")
		if deeper {
			i = s.search(p+name+"0", i+1)
		} else {
			i++
		}
		if name == "" || seen[name] || (dirsOnly && !deeper) {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

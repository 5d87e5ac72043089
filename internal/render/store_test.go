package render

import (
	"fmt"
	"math/rand/v2"
	"path"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// The naive look-ups that the store's binary searches replace: every key
// is visited. They define what the store must return.

func naiveGets(s *store, pattern string) ([]KVPair, error) {
	out := []KVPair{}
	for _, kv := range s.kvs {
		ok, err := path.Match(pattern, kv.Key)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", pattern, err)
		}
		if ok {
			out = append(out, KVPair{kv.Key, kv.Value})
		}
	}
	return out, nil
}

func naiveGetvs(s *store, pattern string) ([]string, error) {
	kvs, err := naiveGets(s, pattern)
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

func naiveChildren(s *store, dir string, dirsOnly bool) []string {
	seen := map[string]bool{}
	out := []string{}
	if _, ok := s.lookup(dir); ok && !dirsOnly {
		out = append(out, path.Base(dir))
		seen[path.Base(dir)] = true
	}
	p := strings.TrimSuffix(dir, "/") + "/"
	for _, kv := range s.kvs {
		if !strings.HasPrefix(kv.Key, p) {
			continue
		}
		name, _, deeper := strings.Cut(strings.TrimPrefix(kv.Key, p), "/")
		if name == "" || seen[name] || (dirsOnly && !deeper) {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// keyParts are what random keys are made of: path separators, names that
// sort around "/" ("-" and "." before it, "0" right after), meta
// characters, NUL, invalid UTF-8 and a multi-byte rune.
var keyParts = []string{"/", "/", "/", "a", "b", "ab", "-", ".", "0", "\x00", "\xff", "é", "*", "?", "[", "]", "\\", "/a", "/b", "//"}

// patternParts add wildcards, classes (one matches "/"), escapes and
// malformed pieces.
var patternParts = []string{"/", "/", "a", "b", "ab", "-", "0", "é", "\xff", "*", "*", "?", "[ab]", "[^a]", "[/]", "[a-", "[", "]", "\\", "\\*", "\\/", "\\a", "**", "[]", "[\\]]"}

func randomString(r *rand.Rand, parts []string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

// randomPattern is made of random parts, or of a key with some parts
// replaced with wildcards, so that many patterns match something.
func randomPattern(r *rand.Rand, keys []string) string {
	if len(keys) == 0 || r.IntN(3) == 0 {
		return randomString(r, patternParts, 1+r.IntN(6))
	}
	k := keys[r.IntN(len(keys))]
	segs := strings.Split(k, "/")
	for i := range segs {
		switch r.IntN(6) {
		case 0:
			segs[i] = "*"
		case 1:
			segs[i] += "*"
		case 2:
			segs[i] = randomString(r, patternParts, 1)
		}
	}
	p := strings.Join(segs, "/")
	if r.IntN(4) == 0 {
		p = p[:r.IntN(len(p)+1)] + "*"
	}
	return p
}

func randomStore(r *rand.Rand) (*store, []string) {
	set := map[string]bool{}
	for range r.IntN(80) {
		k := randomString(r, keyParts, 1+r.IntN(7))
		if r.IntN(5) != 0 {
			k = "/" + k
		}
		set[k] = true
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := &store{}
	for i, k := range keys {
		s.kvs = append(s.kvs, snapshot.KV{Key: k, Value: fmt.Sprint(i % 7)})
	}
	return s, keys
}

// TestStoreMatchesNaive compares the store's look-ups with the naive ones
// on random keys, patterns and directories: same results, same errors.
func TestStoreMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1500 {
		s, keys := randomStore(r)
		for range 20 {
			pattern := randomPattern(r, keys)
			got, gerr := s.gets(pattern)
			want, werr := naiveGets(s, pattern)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("gets %q over %q\n got %q, %v\nwant %q, %v", pattern, keys, got, gerr, want, werr)
			}
			gotv, gerr := s.getvs(pattern)
			wantv, werr := naiveGetvs(s, pattern)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(gotv, wantv) {
				t.Fatalf("getvs %q over %q\n got %q, %v\nwant %q, %v", pattern, keys, gotv, gerr, wantv, werr)
			}

			dir := randomString(r, keyParts, r.IntN(4))
			if len(keys) > 0 && r.IntN(2) == 0 {
				k := keys[r.IntN(len(keys))]
				dir = k[:r.IntN(len(k)+1)]
			}
			for _, dirsOnly := range []bool{false, true} {
				got, want := s.children(dir, dirsOnly), naiveChildren(s, dir, dirsOnly)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("children %q (dirs only %v) over %q\n got %q\nwant %q", dir, dirsOnly, keys, got, want)
				}
			}
		}
	}
}

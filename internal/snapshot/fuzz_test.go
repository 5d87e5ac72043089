package snapshot_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// FuzzUnmarshal feeds hostile snapshot files (plan --snapshot) to
// Unmarshal: it never panics, an error names the file, and what it accepts
// survives Marshal and Unmarshal unchanged — binary keys and values
// included.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"format_version": 1, "revision": 3, "ranges": [{"start": "/a", "end": "/a0"}], "data": {"/a/x": "1"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := snapshot.Unmarshal("fuzz.json", data)
		if err != nil {
			if !strings.Contains(err.Error(), "snapshot file fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("an accepted snapshot does not marshal: %v", err)
		}
		back, err := snapshot.Unmarshal("again.json", out)
		if err != nil {
			t.Fatalf("a marshalled snapshot is refused: %v\n%s", err, out)
		}
		if back.Revision != s.Revision || back.Len() != s.Len() || !reflect.DeepEqual(kvs(back), kvs(s)) {
			t.Fatalf("round trip changed the snapshot:\n%s", out)
		}
	})
}

func kvs(s *snapshot.Snapshot) []snapshot.KV {
	var out []snapshot.KV
	for _, sp := range s.Spans {
		out = slices.AppendSeq(out, sp.All())
	}
	return out
}

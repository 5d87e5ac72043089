package snapshot_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/snapshot"
)

func TestMarshalRoundTrip(t *testing.T) {
	sels := []snapshot.Selector{
		{Key: "/app", Recursive: true},
		{Key: "/bin", Recursive: true},
		{Key: "/empty", Recursive: true},
		{Key: "/k"},
	}
	data := map[string]string{
		"/app":           "root",
		"/app/a":         "line1\nline2\n",
		"/app/html":      `<a href="x">&</a>`,
		"/app/unicode/ü": "grüße \u2028 ✓",
		"/app/empty":     "",
		"/bin/value":     "\xff\x00\xfe binary",
		"/bin/\xff\xfe":  "binary key, text value",
		"/bin/nul\x00":   "key with a NUL",
		"/k":             "v",
	}
	tests := []struct {
		name  string
		cover func([]snapshot.Selector) []snapshot.Span
		// wantRanges and wantOptional count the spans, and the optional
		// ones: the own keys of /app, /bin and /empty in exact spans.
		wantRanges, wantOptional int
	}{
		{name: "coarse spans, as Snapshot reads them", cover: snapshot.Cover, wantRanges: 4, wantOptional: 0},
		{name: "exact spans, as the permission fallback reads them", cover: snapshot.CoverExact, wantRanges: 7, wantOptional: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := buildSpans(t, 42, tt.cover(sels), data)
			orig.Stamp() // as read from etcd
			orig.ClusterID = "cdf818194e3a8c32"
			orig.Prefix = "/p"

			raw, err := orig.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}

			// The file is JSON a reviewer can read: text values as they are,
			// binary ones in data_base64, and HTML not escaped.
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("Marshal wrote invalid JSON: %v\n%s", err, raw)
			}
			if doc["format_version"] != float64(snapshot.FormatVersion) || doc["revision"] != float64(42) {
				t.Errorf("format_version/revision = %v/%v, want %d/42", doc["format_version"], doc["revision"], snapshot.FormatVersion)
			}
			text, _ := doc["data"].(map[string]any)
			for k, v := range map[string]string{"/app/a": "line1\nline2\n", "/app/empty": "", "/app/unicode/ü": "grüße \u2028 ✓", "/bin/nul\x00": "key with a NUL"} {
				if text[k] != v {
					t.Errorf("data[%q] = %#v, want %q", k, text[k], v)
				}
			}
			if !strings.Contains(string(raw), `<a href=\"x\">&</a>`) {
				t.Errorf("HTML in values is escaped; the file should show it as it is:\n%s", raw)
			}
			// Ranges are written as they are, and "optional" only on the own keys
			// of recursive reads, so that files of coarse spans and single keys
			// stay as they were.
			ranges, _ := doc["ranges"].([]any)
			if len(ranges) != tt.wantRanges || len(orig.Spans) != tt.wantRanges {
				t.Fatalf("file has %d ranges, spans %#v; want %d: %v", len(ranges), orig.Spans, tt.wantRanges, doc["ranges"])
			}
			optional := 0
			for i, r := range ranges {
				m, _ := r.(map[string]any)
				sp := orig.Spans[i]
				opt, has := m["optional"]
				if m["start"] != sp.Start || m["end"] != sp.End || has != sp.Optional || (has && opt != true) {
					t.Errorf("range %d in the file = %v, want start %q end %q optional %v", i, m, sp.Start, sp.End, sp.Optional)
				}
				if has {
					optional++
				}
			}
			if optional != tt.wantOptional || orig.Spans[len(orig.Spans)-1].Optional {
				t.Errorf("file has %d optional ranges, spans %#v; want %d, and /k not optional", optional, orig.Spans, tt.wantOptional)
			}
			bin, _ := doc["data_base64"].(map[string]any)
			b64 := base64.StdEncoding.EncodeToString
			if bin[b64([]byte("/bin/value"))] != b64([]byte("\xff\x00\xfe binary")) {
				t.Errorf("binary value not in data_base64: %v", bin)
			}
			if bin[b64([]byte("/bin/\xff\xfe"))] != b64([]byte("binary key, text value")) {
				t.Errorf("binary key not in data_base64: %v", bin)
			}
			if len(text)+len(bin) != len(data) {
				t.Errorf("file holds %d text and %d base64 entries, want %d in all", len(text), len(bin), len(data))
			}

			got, err := snapshot.Unmarshal("snap.json", raw)
			if err != nil {
				t.Fatalf("Unmarshal of Marshal's output: %v\n%s", err, raw)
			}
			if got.Revision != orig.Revision || got.ClusterID != orig.ClusterID || got.Prefix != orig.Prefix {
				t.Errorf("header = %d %q %q, want %d %q %q", got.Revision, got.ClusterID, got.Prefix, orig.Revision, orig.ClusterID, orig.Prefix)
			}
			if !reflect.DeepEqual(got.Spans, orig.Spans) {
				t.Errorf("spans differ after a round trip:\n got %+v\nwant %+v", got.Spans, orig.Spans)
			}
			all(t, got)
			// Absent and empty stay different through the file.
			if v, ok, err := got.Get("/app/empty"); err != nil || !ok || v != "" {
				t.Errorf("/app/empty after round trip = %q %v %v, want present and empty", v, ok, err)
			}
			if _, ok, err := got.Get("/app/gone"); err != nil || ok {
				t.Errorf("/app/gone after round trip: ok=%v err=%v, want covered and absent", ok, err)
			}
			if kvs, err := got.Select(snapshot.Selector{Key: "/empty", Recursive: true}); err != nil || len(kvs) != 0 {
				t.Errorf("empty span after round trip: %q, %v; want covered and empty", kvs, err)
			}

			// Marshal is deterministic: a second write is byte-identical.
			again, err := got.Marshal()
			if err != nil {
				t.Fatalf("Marshal again: %v", err)
			}
			if string(again) != string(raw) {
				t.Errorf("Marshal(Unmarshal(x)) != x:\n%s\n---\n%s", again, raw)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		file    string
		wantErr []string
	}{
		{
			name:    "newer format version",
			file:    `{"format_version": 2, "revision": 1, "ranges": [], "data": {}}`,
			wantErr: []string{"snapshot file snap.json", "format_version 2 is not supported (want 1)"},
		},
		{
			name:    "no format version",
			file:    `{"revision": 1, "ranges": [], "data": {}}`,
			wantErr: []string{"snapshot file snap.json", "format_version 0 is not supported"},
		},
		{
			name:    "unknown field",
			file:    `{"format_version": 1, "revision": 1, "ranges": [], "data": {}, "extra": true}`,
			wantErr: []string{"snapshot file snap.json", `unknown field "extra"`},
		},
		{
			name:    "key outside every range",
			file:    `{"format_version": 1, "revision": 1, "ranges": [{"start": "/app", "end": "/app0"}], "data": {"/app/a": "1", "/db": "x"}}`,
			wantErr: []string{"snapshot file snap.json", "key /db lies outside every range"},
		},
		{
			name:    "base64 key outside every range",
			file:    `{"format_version": 1, "revision": 1, "ranges": [{"start": "/app", "end": "/app0"}], "data": {}, "data_base64": {"` + b64("/zz") + `": "` + b64("\xff") + `"}}`,
			wantErr: []string{"snapshot file snap.json", "key /zz lies outside every range"},
		},
		{
			name:    "data_base64 that is not base64",
			file:    `{"format_version": 1, "revision": 1, "ranges": [{"start": "/app", "end": "/app0"}], "data": {}, "data_base64": {"/app/a": "x"}}`,
			wantErr: []string{"snapshot file snap.json", `data_base64 entry "/app/a" is not base64`},
		},
		{
			name:    "empty range",
			file:    `{"format_version": 1, "revision": 1, "ranges": [{"start": "/b", "end": "/a"}], "data": {}}`,
			wantErr: []string{"snapshot file snap.json", `range "/b".."/a" is empty`},
		},
		{
			name:    "overlapping ranges",
			file:    `{"format_version": 1, "revision": 1, "ranges": [{"start": "/app/x", "end": "/app/x0"}, {"start": "/app", "end": "/app0"}], "data": {}}`,
			wantErr: []string{"snapshot file snap.json", `ranges "/app" and "/app/x" overlap`},
		},
		{
			name:    "one key twice, as text and as base64",
			file:    `{"format_version": 1, "revision": 1, "ranges": [{"start": "/app", "end": "/app0"}], "data": {"/app/a": "1"}, "data_base64": {"` + b64("/app/a") + `": "` + b64("2") + `"}}`,
			wantErr: []string{"snapshot file snap.json", "key /app/a appears twice"},
		},
		{
			name:    "JSON syntax error",
			file:    `{"format_version": 1,`,
			wantErr: []string{"snapshot file snap.json", "unexpected EOF"},
		},
		{
			name:    "wrong type",
			file:    `{"format_version": "1", "revision": 1, "ranges": [], "data": {}}`,
			wantErr: []string{"snapshot file snap.json", "format_version"},
		},
		{
			name:    "trailing data after the document",
			file:    `{"format_version": 1, "revision": 1, "ranges": [], "data": {}} {"format_version": 1}`,
			wantErr: []string{"snapshot file snap.json", "after the JSON document"},
		},
		{
			name:    "not JSON at all",
			file:    "",
			wantErr: []string{"snapshot file snap.json", "EOF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := snapshot.Unmarshal("snap.json", []byte(tt.file))
			if err == nil {
				t.Fatalf("Unmarshal accepted a bad file: %+v", s)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	orig := build(t, 9, []snapshot.Selector{{Key: "/app", Recursive: true}}, map[string]string{"/app/a": "1", "/app/b": "\x00\x01"})
	raw, err := orig.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "snap.json")
	if err := os.WriteFile(good, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format_version": 99}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr []string
	}{
		{name: "good file", path: good},
		{name: "missing file", path: filepath.Join(dir, "nope.json"), wantErr: []string{"read snapshot file", "nope.json", "no such file or directory"}},
		{name: "bad file names its path", path: bad, wantErr: []string{bad, "format_version 99"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := snapshot.ReadFile(tt.path)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ReadFile(%s) succeeded, want an error", tt.path)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			if v, ok, err := s.Get("/app/b"); err != nil || !ok || v != "\x00\x01" || s.Revision != 9 {
				t.Errorf("ReadFile gave /app/b = %q %v %v at %d, want \\x00\\x01 at 9", v, ok, err, s.Revision)
			}
		})
	}
}

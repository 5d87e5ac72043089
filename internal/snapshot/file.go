package snapshot

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/reconfig/reconfig/internal/atomicfile"
)

// FormatVersion is the version of the snapshot file format.
const FormatVersion = 1

// MaxFileSize is the largest snapshot file Marshal writes and ReadFile
// reads: about five million keys of 100 bytes, a quarter of etcd's default
// 2 GiB backend quota — more than the keys any set of bindings reads —
// while a file that never ends cannot take the memory of `plan
// --snapshot`.
const MaxFileSize = 512 << 20

// fileSnapshot is the JSON form of a Snapshot: the covered ranges and a
// flat key → value object that a reviewer can read. Values that are not
// valid UTF-8 go to data_base64 so that the file round-trips byte for byte.
type fileSnapshot struct {
	FormatVersion int         `json:"format_version"`
	Revision      int64       `json:"revision"`
	ClusterID     string      `json:"cluster_id,omitempty"`
	Prefix        string      `json:"prefix,omitempty"`
	Ranges        []fileRange `json:"ranges"`
	// Omitted are ranges whose values were left out (those only sensitive
	// bindings read).
	Omitted    []fileRange       `json:"omitted,omitempty"`
	Data       map[string]string `json:"data"`
	DataBase64 map[string]string `json:"data_base64,omitempty"`
}

type fileRange struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	Optional bool   `json:"optional,omitempty"`
}

// Marshal encodes the snapshot as the JSON of `reconfig snapshot save`.
func (s *Snapshot) Marshal() ([]byte, error) {
	f := fileSnapshot{
		FormatVersion: FormatVersion,
		Revision:      s.Revision,
		ClusterID:     s.ClusterID,
		Prefix:        s.Prefix,
		Ranges:        make([]fileRange, 0, len(s.Spans)),
		Data:          make(map[string]string, s.Len()),
	}
	for _, r := range s.Omitted {
		f.Omitted = append(f.Omitted, fileRange{Start: r.Start, End: r.End})
	}
	for _, sp := range s.Spans {
		f.Ranges = append(f.Ranges, fileRange{Start: sp.Start, End: sp.End, Optional: sp.Optional})
		for kv := range sp.All() {
			if utf8.ValidString(kv.Value) && utf8.ValidString(kv.Key) {
				f.Data[kv.Key] = kv.Value
				continue
			}
			if f.DataBase64 == nil {
				f.DataBase64 = map[string]string{}
			}
			f.DataBase64[base64.StdEncoding.EncodeToString([]byte(kv.Key))] = base64.StdEncoding.EncodeToString([]byte(kv.Value))
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	if buf.Len() > MaxFileSize {
		return nil, fmt.Errorf("the snapshot takes %d MiB, more than the %s a snapshot file may hold", buf.Len()>>20, atomicfile.FormatSize(MaxFileSize))
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes a snapshot file. name is used in error messages.
func Unmarshal(name string, data []byte) (*Snapshot, error) {
	var f fileSnapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("snapshot file %s: %w", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("snapshot file %s: unexpected data after the JSON document", name)
	}
	if f.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("snapshot file %s: format_version %d is not supported (want %d)", name, f.FormatVersion, FormatVersion)
	}
	s := &Snapshot{Revision: f.Revision, ClusterID: f.ClusterID, Prefix: f.Prefix}
	for _, r := range f.Ranges {
		if r.Start >= r.End {
			return nil, fmt.Errorf("snapshot file %s: range %q..%q is empty", name, r.Start, r.End)
		}
		s.Spans = append(s.Spans, Span{Start: r.Start, End: r.End, Optional: r.Optional})
	}
	sort.Slice(s.Spans, func(i, j int) bool { return s.Spans[i].Start < s.Spans[j].Start })
	for i := 1; i < len(s.Spans); i++ {
		if s.Spans[i].Start < s.Spans[i-1].End {
			return nil, fmt.Errorf("snapshot file %s: ranges %q and %q overlap", name, s.Spans[i-1].Start, s.Spans[i].Start)
		}
	}
	for _, r := range f.Omitted {
		if r.Start >= r.End {
			return nil, fmt.Errorf("snapshot file %s: omitted range %q..%q is empty", name, r.Start, r.End)
		}
		s.Omitted = append(s.Omitted, Range{Start: r.Start, End: r.End})
	}
	s.Omitted = normalize(s.Omitted)
	// The key/values of each span, gathered and sorted before they are
	// appended to it in key order.
	kvs := make([][]KV, len(s.Spans))
	put := func(k, v string) error {
		i := s.find(k, k+"\x00")
		if i < 0 {
			return fmt.Errorf("snapshot file %s: key %s lies outside every range", name, k)
		}
		if s.omits(k, k+"\x00") {
			return fmt.Errorf("snapshot file %s: key %s lies in a range whose values were left out", name, k)
		}
		kvs[i] = append(kvs[i], KV{Key: k, Value: v})
		return nil
	}
	for k, v := range f.Data {
		if err := put(k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range f.DataBase64 {
		kb, err1 := base64.StdEncoding.DecodeString(k)
		vb, err2 := base64.StdEncoding.DecodeString(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("snapshot file %s: data_base64 entry %q is not base64", name, k)
		}
		if err := put(string(kb), string(vb)); err != nil {
			return nil, err
		}
	}
	for i, kvs := range kvs {
		slices.SortFunc(kvs, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
		for j := 1; j < len(kvs); j++ {
			if kvs[j].Key == kvs[j-1].Key {
				return nil, fmt.Errorf("snapshot file %s: key %s appears twice (in data and data_base64)", name, kvs[j].Key)
			}
		}
		if err := s.Spans[i].Append(kvs...); err != nil {
			return nil, fmt.Errorf("snapshot file %s: %w", name, err)
		}
	}
	// Every range of the file is current at its revision.
	s.Stamp()
	return s, nil
}

// ReadFile reads a snapshot file through atomicfile.Read: a symlink, FIFO,
// device or other non-regular file, or a file over MaxFileSize, is refused
// without being read.
func ReadFile(path string) (*Snapshot, error) {
	data, _, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: MaxFileSize})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, fmt.Errorf("snapshot file %w", re)
	case err != nil:
		return nil, fmt.Errorf("read snapshot file: %w", err)
	}
	return Unmarshal(path, data)
}

package snapshot_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/reconfig/reconfig/internal/snapshot"
)

// Benchmarks of how a snapshot stores its key/values. They use only what
// both the old sorted slice per span and its replacement offer (the file
// format, events, Select, Clone), so that the numbers compare across the
// change:
//
//	go test -run '^$' -bench . -benchtime 3x ./snapshot

// benchKeys is the size of the one big span: 10 groups of 10,000 keys.
const benchKeys = 100_000

func benchKey(i int) string { return fmt.Sprintf("/app/g%d/k%06d", i/10_000, i) }

// benchFile is the snapshot file of spans [start, start+"0") at revision
// 1, holding keys(i) for each span i.
func benchFile(b *testing.B, starts []string, keys func(span int) []string) []byte {
	b.Helper()
	type rng struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	f := struct {
		FormatVersion int               `json:"format_version"`
		Revision      int64             `json:"revision"`
		Ranges        []rng             `json:"ranges"`
		Data          map[string]string `json:"data"`
	}{FormatVersion: 1, Revision: 1, Data: map[string]string{}}
	for i, s := range starts {
		f.Ranges = append(f.Ranges, rng{Start: s, End: s + "0"})
		for _, k := range keys(i) {
			f.Data[k] = "value of " + k
		}
	}
	raw, err := json.Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// bigSpan is the file of one span [/app, /app0) of benchKeys keys.
func bigSpan(b *testing.B) []byte {
	b.Helper()
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	return benchFile(b, []string{"/app"}, func(int) []string { return keys })
}

func load(b *testing.B, raw []byte) *snapshot.Snapshot {
	b.Helper()
	s, err := snapshot.Unmarshal("bench.json", raw)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkDeleteOneByOne deletes every key of a 100,000-key span, one
// event per batch, as the watch delivers a prefix deleted key by key. One
// op is all 100,000 deletes; ns/event is the cost of one.
func BenchmarkDeleteOneByOne(b *testing.B) {
	raw := bigSpan(b)
	for _, order := range []string{"ascending", "random"} {
		b.Run(order, func(b *testing.B) {
			keys := make([]string, benchKeys)
			for i := range keys {
				keys[i] = benchKey(i)
			}
			if order == "random" {
				rand.New(rand.NewPCG(1, 2)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			}
			for range b.N {
				b.StopTimer()
				s := load(b, raw)
				b.StartTimer()
				ev := []snapshot.Event{{Delete: true}}
				for i, k := range keys {
					ev[0].Revision, ev[0].Key = int64(2+i), k
					if len(s.ApplySpan(0, ev)) != 1 {
						b.Fatalf("deleting %s changed nothing", k)
					}
				}
				if s.Len() != 0 {
					b.Fatalf("%d keys left", s.Len())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/event")
		})
	}
}

// BenchmarkInsertRandom puts 100,000 new keys in random order into an
// empty span, one event per batch.
func BenchmarkInsertRandom(b *testing.B) {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for range b.N {
		s := &snapshot.Snapshot{Revision: 1, Spans: []snapshot.Span{{Start: "/app", End: "/app0"}}}
		s.Stamp()
		ev := []snapshot.Event{{Value: "v"}}
		for i, k := range keys {
			ev[0].Revision, ev[0].Key = int64(2+i), k
			if len(s.ApplySpan(0, ev)) != 1 {
				b.Fatalf("putting %s changed nothing", k)
			}
		}
		if s.Len() != benchKeys {
			b.Fatalf("%d keys, want %d", s.Len(), benchKeys)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/event")
}

// BenchmarkSelect reads a 10,000-key prefix and a single key out of a
// 100,000-key span, as loaded from etcd (or a file).
func BenchmarkSelect(b *testing.B) {
	s := load(b, bigSpan(b))
	b.Run("range10k", func(b *testing.B) {
		sel := snapshot.Selector{Key: "/app/g3", Recursive: true}
		b.ReportAllocs()
		for b.Loop() {
			kvs, err := s.Select(sel)
			if err != nil || len(kvs) != 10_000 {
				b.Fatalf("Select = %d keys, %v", len(kvs), err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		key := benchKey(54_321)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := s.Get(key); !ok || err != nil {
				b.Fatalf("Get(%s) = %v, %v", key, ok, err)
			}
		}
	})
}

// BenchmarkLoad builds a 100,000-key span: from a snapshot file (whose
// JSON decoding dominates), and from one batch of puts in key order.
func BenchmarkLoad(b *testing.B) {
	b.Run("file", func(b *testing.B) {
		raw := bigSpan(b)
		b.ReportAllocs()
		for b.Loop() {
			load(b, raw)
		}
	})
	b.Run("events", func(b *testing.B) {
		evs := make([]snapshot.Event, benchKeys)
		for i := range evs {
			evs[i] = snapshot.Event{Revision: 2, Key: benchKey(i), Value: "v"}
		}
		b.ReportAllocs()
		for b.Loop() {
			s := &snapshot.Snapshot{Revision: 1, Spans: []snapshot.Span{{Start: "/app", End: "/app0"}}}
			if len(s.ApplySpan(0, evs)) != benchKeys {
				b.Fatal("not every put changed the span")
			}
		}
	})
}

// BenchmarkClone deep-copies a 100,000-key snapshot.
func BenchmarkClone(b *testing.B) {
	s := load(b, bigSpan(b))
	b.ReportAllocs()
	for b.Loop() {
		if c := s.Clone(); c.Len() != benchKeys {
			b.Fatal("clone lost keys")
		}
	}
}

// BenchmarkSmallSpans is the snapshot of an idle daemon with 1,000
// bindings: 1,000 spans of 3 keys each. B/op counts every allocation of a
// load; retained-B/span is the heap one span keeps after garbage
// collection — loaded from a file its key and value strings included, from
// events only the span's own structure (the strings exist before).
func BenchmarkSmallSpans(b *testing.B) {
	const spans = 1000
	starts := make([]string, spans)
	keys := make([][]string, spans)
	for i := range starts {
		starts[i] = fmt.Sprintf("/b%04d", i)
		keys[i] = []string{starts[i], starts[i] + "/host", starts[i] + "/port"}
	}
	// retained measures before the timed loop (b.Loop keeps its last
	// result alive, which would count in the heap before) and is reported
	// after it (b.Loop clears metrics reported before).
	retained := func(b *testing.B, build func() *snapshot.Snapshot) float64 {
		const copies = 10
		keep := make([]*snapshot.Snapshot, copies)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range keep {
			keep[i] = build()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		for _, s := range keep {
			if s.Len() != 3*spans {
				b.Fatalf("%d keys, want %d", s.Len(), 3*spans)
			}
		}
		return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / (copies * spans)
	}
	b.Run("file", func(b *testing.B) {
		raw := benchFile(b, starts, func(i int) []string { return keys[i] })
		kept := retained(b, func() *snapshot.Snapshot { return load(b, raw) })
		b.ReportAllocs()
		for b.Loop() {
			load(b, raw)
		}
		b.ReportMetric(kept, "retained-B/span")
	})
	b.Run("events", func(b *testing.B) {
		var evs [][]snapshot.Event
		for i := range starts {
			var e []snapshot.Event
			for _, k := range keys[i] {
				e = append(e, snapshot.Event{Revision: 2, Key: k, Value: "value of " + k})
			}
			evs = append(evs, e)
		}
		build := func() *snapshot.Snapshot {
			s := &snapshot.Snapshot{Revision: 1, Spans: make([]snapshot.Span, spans)}
			for i, st := range starts {
				s.Spans[i] = snapshot.Span{Start: st, End: st + "0", Rev: 1}
			}
			for i := range starts {
				s.ApplySpan(i, evs[i])
			}
			return s
		}
		kept := retained(b, build)
		b.ReportAllocs()
		for b.Loop() {
			build()
		}
		b.ReportMetric(kept, "retained-B/span")
	})
}

package fleet

import (
	"fmt"
	"testing"
	"time"
)

// A fleet of n hosts, every tenth one behind revision 100.
func benchFleet(b *testing.B, n int) *Fleet {
	f := NewFleet(NewKeys(""))
	for i := range n {
		at := int64(100)
		if i%10 == 0 {
			at = 90
		}
		s := &Status{Version: SchemaVersion, Name: fmt.Sprintf("host-%05d", i), Group: "web", At: at, Healthy: true, Reported: t0,
			Bindings: []Binding{{ID: "app", Target: "/etc/app.conf", Outcome: OK, Revision: at}}}
		data, err := s.Encode()
		if err != nil {
			b.Fatal(err)
		}
		f.Put(f.Keys().Host(s.Name), string(data), int64(i+1))
	}
	return f
}

// What `fleet wait` does after every batch of its watch: judge 10,000
// hosts.
func BenchmarkOutcome10k(b *testing.B) {
	f := benchFleet(b, 10_000)
	b.ResetTimer()
	for b.Loop() {
		if f.Outcome(100, "web", 1) != Waiting {
			b.Fatal("converged")
		}
	}
}

// What `fleet status` does once: the report of 10,000 hosts.
func BenchmarkReport10k(b *testing.B) {
	f := benchFleet(b, 10_000)
	b.ResetTimer()
	for b.Loop() {
		if r := f.Report(100, "", t0.Add(time.Second)); r.Summary.Behind != 1000 {
			b.Fatalf("%d behind", r.Summary.Behind)
		}
	}
}

// What a watch event costs: decoding one host's status.
func BenchmarkPut(b *testing.B) {
	f := benchFleet(b, 1)
	s := &Status{Version: SchemaVersion, Name: "h", Group: "web", At: 100, Healthy: true, Reported: t0,
		Bindings: []Binding{{ID: "app", Target: "/etc/app.conf", Outcome: OK, Revision: 100}}}
	data, _ := s.Encode()
	b.ResetTimer()
	for b.Loop() {
		f.Put(f.Keys().Host("h"), string(data), 2)
	}
}

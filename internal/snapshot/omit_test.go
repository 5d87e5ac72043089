package snapshot

import (
	"errors"
	"reflect"
	"testing"
)

func TestSubtract(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []Range
		want []Range
	}{
		{"nothing taken", []Range{{Start: "/a", End: "/b"}}, nil, []Range{{Start: "/a", End: "/b"}}},
		{"all taken", []Range{{Start: "/a", End: "/b"}}, []Range{{Start: "/", End: "0"}}, nil},
		{"a hole", []Range{{Start: "/a", End: "/z"}}, []Range{{Start: "/c", End: "/d"}}, []Range{{Start: "/a", End: "/c"}, {Start: "/d", End: "/z"}}},
		{"the start and the end", []Range{{Start: "/b", End: "/y"}}, []Range{{Start: "/a", End: "/c"}, {Start: "/x", End: "/z"}}, []Range{{Start: "/c", End: "/x"}}},
		{"several of each, unsorted", []Range{{Start: "/m", End: "/p"}, {Start: "/a", End: "/d"}}, []Range{{Start: "/n", End: "/o"}, {Start: "/b", End: "/c"}},
			[]Range{{Start: "/a", End: "/b"}, {Start: "/c", End: "/d"}, {Start: "/m", End: "/n"}, {Start: "/o", End: "/p"}}},
		{"a recursive key minus a key under it", (Selector{Key: "/db", Recursive: true}).Ranges(), (Selector{Key: "/db/host"}).Ranges(),
			[]Range{{Start: "/db", End: "/db\x00"}, {Start: "/db/", End: "/db/host"}, {Start: "/db/host\x00", End: "/db0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Subtract(tc.a, tc.b); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Subtract = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Omitted values are never read as absent: a selector that touches them
// is an *ErrOmitted, the others read as before, and the file keeps the
// omission.
func TestOmit(t *testing.T) {
	s := &Snapshot{Revision: 7, Spans: Cover([]Selector{{Key: "/db", Recursive: true}})}
	if err := s.Spans[0].Append(KV{Key: "/db/host", Value: "h"}, KV{Key: "/db/password", Value: "secret"}); err != nil {
		t.Fatal(err)
	}
	s.Omit(Subtract((Selector{Key: "/db", Recursive: true}).Ranges(), (Selector{Key: "/db/host"}).Ranges()))
	if kvs, err := s.Select(Selector{Key: "/db/host"}); err != nil || len(kvs) != 1 || kvs[0].Value != "h" {
		t.Fatalf("Select /db/host = %v, %v", kvs, err)
	}
	for _, sel := range []Selector{{Key: "/db/password"}, {Key: "/db", Recursive: true}} {
		var om *ErrOmitted
		if _, err := s.Select(sel); !errors.As(err, &om) {
			t.Fatalf("Select %v = %v, want *ErrOmitted", sel, err)
		}
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal("snap.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != 1 || !reflect.DeepEqual(back.Omitted, s.Omitted) {
		t.Fatalf("after a round trip: %d keys, omitted %+v; want 1 and %+v", back.Len(), back.Omitted, s.Omitted)
	}
	var om *ErrOmitted
	if _, err := back.Select(Selector{Key: "/db/password"}); !errors.As(err, &om) {
		t.Fatalf("after a round trip, Select /db/password = %v", err)
	}
}

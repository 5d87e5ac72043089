package etcd_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/hint"
)

// fakeResolver answers SRV lookups from a table keyed by exactly what is
// asked (service, proto, name); anything else is "no such host".
type fakeResolver struct {
	records map[[3]string][]*net.SRV
	errs    map[[3]string]error
	asked   [][3]string
}

var _ etcd.Resolver = (*fakeResolver)(nil)

func (r *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	q := [3]string{service, proto, name}
	r.asked = append(r.asked, q)
	if err := r.errs[q]; err != nil {
		return "", nil, err
	}
	recs, ok := r.records[q]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return name, recs, nil
}

func srv(target string, port uint16) *net.SRV {
	return &net.SRV{Target: target, Port: port, Priority: 10, Weight: 10}
}

func TestPickSRV(t *testing.T) {
	t.Parallel()
	const record = "_etcd._tcp.example.com"
	rec := func(s ...*net.SRV) map[[3]string][]*net.SRV {
		return map[[3]string][]*net.SRV{{"", "", record}: s}
	}
	tests := []struct {
		name     string
		r        *fakeResolver
		tls      bool
		wantAny  []string // the pick is one of these
		wantErr  []string
		wantHint string
	}{
		{
			name:    "one target, trailing dot dropped",
			r:       &fakeResolver{records: rec(srv("etcd1.example.com.", 2379))},
			wantAny: []string{"http://etcd1.example.com:2379"},
		},
		{
			name:    "https with TLS",
			r:       &fakeResolver{records: rec(srv("etcd1.example.com.", 2379))},
			tls:     true,
			wantAny: []string{"https://etcd1.example.com:2379"},
		},
		{
			name:    "IPv6 target is bracketed",
			r:       &fakeResolver{records: rec(srv("::1", 4001))},
			wantAny: []string{"http://[::1]:4001"},
		},
		{
			name:    "several targets: one of them",
			r:       &fakeResolver{records: rec(srv("a.example.com.", 2379), srv("b.example.com.", 2380), srv("c.example.com", 2381))},
			wantAny: []string{"http://a.example.com:2379", "http://b.example.com:2380", "http://c.example.com:2381"},
		},
		{
			name:     "no such record",
			r:        &fakeResolver{},
			wantErr:  []string{"--srv " + record + ": no SRV records found (no such record)"},
			wantHint: "host -t SRV " + record,
		},
		{
			name:     "empty answer",
			r:        &fakeResolver{records: rec()},
			wantErr:  []string{"--srv " + record + ": no SRV records found (empty answer)"},
			wantHint: "host -t SRV " + record,
		},
		{
			name:     "DNS server failure",
			r:        &fakeResolver{errs: map[[3]string]error{{"", "", record}: &net.DNSError{Err: "server misbehaving", Name: record}}},
			wantErr:  []string{"--srv " + record + ": no SRV records found (server misbehaving)"},
			wantHint: "host -t SRV",
		},
		{
			name:     "other lookup error",
			r:        &fakeResolver{errs: map[[3]string]error{{"", "", record}: errors.New("resolver exploded")}},
			wantErr:  []string{"resolver exploded"},
			wantHint: "host -t SRV",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := etcd.PickSRV(context.Background(), tt.r, record, tt.tls)
			if len(tt.r.asked) != 1 || tt.r.asked[0] != [3]string{"", "", record} {
				t.Errorf("looked up %q, want the full record name once", tt.r.asked)
			}
			if len(tt.wantErr) > 0 {
				var e *etcd.Error
				if !errors.As(err, &e) {
					t.Fatalf("PickSRV = %q, %v; want an *etcd.Error", got, err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("error %q does not say %q", e, w)
					}
				}
				if !strings.Contains(hint.Of(err), tt.wantHint) {
					t.Errorf("hint %q does not say %q", hint.Of(err), tt.wantHint)
				}
				return
			}
			if err != nil {
				t.Fatalf("PickSRV: %v", err)
			}
			// Pick many times: every pick is a target, and every target
			// gets picked (P(missing one of 3 in 300 picks) < 1e-50).
			seen := map[string]bool{}
			for range 300 {
				ep, err := etcd.PickSRV(context.Background(), tt.r, record, tt.tls)
				if err != nil {
					t.Fatal(err)
				}
				if !contains(tt.wantAny, ep) {
					t.Fatalf("PickSRV = %q, want one of %q", ep, tt.wantAny)
				}
				seen[ep] = true
			}
			if len(seen) != len(tt.wantAny) {
				t.Errorf("300 picks chose only %v of %q", seen, tt.wantAny)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	const domain = "example.com"
	ssl := [3]string{"etcd-client-ssl", "tcp", domain}
	plain := [3]string{"etcd-client", "tcp", domain}
	tests := []struct {
		name     string
		r        *fakeResolver
		want     []string
		wantErr  []string
		wantHint string
	}{
		{
			name: "both kinds: https first",
			r: &fakeResolver{records: map[[3]string][]*net.SRV{
				ssl:   {srv("s1.example.com.", 2379), srv("s2.example.com.", 2379)},
				plain: {srv("p1.example.com.", 2379)},
			}},
			want: []string{"https://s1.example.com:2379", "https://s2.example.com:2379", "http://p1.example.com:2379"},
		},
		{
			name: "only plain",
			r:    &fakeResolver{records: map[[3]string][]*net.SRV{plain: {srv("p1.example.com.", 4001)}}},
			want: []string{"http://p1.example.com:4001"},
		},
		{
			name: "only ssl, the plain lookup failing",
			r: &fakeResolver{
				records: map[[3]string][]*net.SRV{ssl: {srv("10.0.0.1", 2379)}},
				errs:    map[[3]string]error{plain: &net.DNSError{Err: "i/o timeout", Name: domain, IsTimeout: true}},
			},
			want: []string{"https://10.0.0.1:2379"},
		},
		{
			name: "no records at all",
			r:    &fakeResolver{},
			wantErr: []string{
				"--discovery-srv example.com: no etcd client SRV records",
				"_etcd-client-ssl._tcp.example.com: no such record",
				"_etcd-client._tcp.example.com: no such record",
			},
			wantHint: "_etcd-client._tcp",
		},
		{
			name: "empty answers",
			r:    &fakeResolver{records: map[[3]string][]*net.SRV{ssl: {}, plain: {}}},
			wantErr: []string{
				"--discovery-srv example.com: no etcd client SRV records",
				"_etcd-client-ssl._tcp.example.com: empty answer",
				"_etcd-client._tcp.example.com: empty answer",
			},
			wantHint: "--endpoints",
		},
		{
			name:     "DNS failing",
			r:        &fakeResolver{errs: map[[3]string]error{ssl: &net.DNSError{Err: "server misbehaving"}, plain: &net.DNSError{Err: "server misbehaving"}}},
			wantErr:  []string{"_etcd-client-ssl._tcp.example.com: server misbehaving", "_etcd-client._tcp.example.com: server misbehaving"},
			wantHint: "--endpoints",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := etcd.Discover(context.Background(), tt.r, domain)
			if !reflect.DeepEqual(tt.r.asked, [][3]string{ssl, plain}) {
				t.Errorf("looked up %q, want %q", tt.r.asked, [][3]string{ssl, plain})
			}
			if len(tt.wantErr) > 0 {
				var e *etcd.Error
				if !errors.As(err, &e) {
					t.Fatalf("Discover = %q, %v; want an *etcd.Error", got, err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("error %q does not say %q", e, w)
					}
				}
				if !strings.Contains(hint.Of(err), tt.wantHint) {
					t.Errorf("hint %q does not say %q", hint.Of(err), tt.wantHint)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Discover = %q, want %q", got, tt.want)
			}
		})
	}
}

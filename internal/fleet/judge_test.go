package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// st builds a status; opts change it.
func st(name, group string, at int64, opts ...func(*Status)) *Status {
	s := &Status{Version: SchemaVersion, Name: name, Group: group, At: at, Healthy: true, Reported: t0,
		Claim: Claim{Instance: name + "-i", Hostname: name, PID: 1, Started: t0.Add(-time.Hour)}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func failing(id, err string) func(*Status) {
	return func(s *Status) {
		s.Bindings = append(s.Bindings, Binding{ID: id, Target: "/etc/" + id, Outcome: Failed, Error: err, Revision: s.At})
		s.Counts.Failed++
	}
}

func held(reason string) func(*Status) { return func(s *Status) { s.Held = reason } }

func unhealthy(problem string) func(*Status) {
	return func(s *Status) { s.Healthy, s.Problem = false, problem }
}

func reported(ago time.Duration) func(*Status) {
	return func(s *Status) { s.Reported = t0.Add(-ago) }
}

func encode(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fleetOf puts the statuses under the default keys, the first at
// revision 100, the next at 101, ...
func fleetOf(t *testing.T, statuses ...*Status) *Fleet {
	t.Helper()
	f := NewFleet(NewKeys(""))
	for i, s := range statuses {
		f.Put(f.Keys().Host(s.Name), encode(t, s), 100+int64(i))
	}
	return f
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status *Status
		rev    int64
		want   State
	}{
		{name: "at the revision", status: st("a", "g", 10), rev: 10, want: StateOK},
		{name: "past the revision", status: st("a", "g", 12), rev: 10, want: StateOK},
		{name: "behind", status: st("a", "g", 9), rev: 10, want: StateBehind},
		{name: "held and behind", status: st("a", "g", 9, held("freeze")), rev: 10, want: StateHeld},
		{name: "held at the revision", status: st("a", "g", 10, held("freeze")), rev: 10, want: StateHeld},
		{name: "a failed binding", status: st("a", "g", 10, failing("nginx", "check failed")), rev: 10, want: StateFailed},
		{name: "failed beats held and behind", status: st("a", "g", 3, failing("nginx", "x"), held("freeze")), rev: 10, want: StateFailed},
		{name: "unhealthy", status: st("a", "g", 10, unhealthy("etcd unreachable")), rev: 10, want: StateFailed},
		{name: "a failed binding left out for the bound", status: st("a", "g", 10, func(s *Status) { s.Counts.Failed, s.Omitted = 1, 1 }), rev: 10, want: StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Judge(tc.status, tc.rev); got != tc.want {
				t.Fatalf("Judge(at %d, rev %d) = %s, want %s", tc.status.At, tc.rev, got, tc.want)
			}
		})
	}
}

func names(hs []HostReport) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestReport(t *testing.T) {
	f := fleetOf(t,
		st("web-2", "web", 20, reported(3*time.Second)),
		st("web-1", "web", 17, reported(90*time.Second)),
		st("db-1", "db", 20, failing("pg", "check failed: exit status 1\nmore detail")),
		st("web-3", "web", 20, failing("nginx", "nginx: [emerg] unknown directive")),
		st("lb-1", "lb", 15, held("freeze")),
	)
	rep := f.Report(20, "", t0)
	if got, want := names(rep.Hosts), []string{"db-1", "web-3", "lb-1", "web-1", "web-2"}; !slices.Equal(got, want) {
		t.Fatalf("hosts %v, want failed first, then by name: %v", got, want)
	}
	if want := (Summary{Hosts: 5, OK: 1, Behind: 1, Failed: 2, Held: 1}); rep.Summary != want {
		t.Fatalf("summary %+v, want %+v", rep.Summary, want)
	}
	byName := map[string]HostReport{}
	for _, h := range rep.Hosts {
		byName[h.Name] = h
	}
	if h := byName["web-1"]; h.Lag != 3 || h.State != StateBehind || h.Age != 90*time.Second || h.AgeSeconds != 90 {
		t.Fatalf("web-1: %+v, want lag 3, behind, reported 90s ago", h)
	}
	if h := byName["web-2"]; h.Lag != 0 || h.State != StateOK {
		t.Fatalf("web-2: %+v, want lag 0 and ok", h)
	}
	want := []Failure{{ID: "pg", Target: "/etc/pg", Error: "check failed: exit status 1 …", Revision: 20}}
	if h := byName["db-1"]; !slices.Equal(h.Failing, want) {
		t.Fatalf("db-1 failing %+v, want the first error line: %+v", h.Failing, want)
	}
	if h := byName["lb-1"]; h.Held != "freeze" || h.Lag != 5 {
		t.Fatalf("lb-1: %+v, want held freeze, lag 5", h)
	}

	web := f.Report(20, "web", t0)
	if got, want := names(web.Hosts), []string{"web-3", "web-1", "web-2"}; !slices.Equal(got, want) {
		t.Fatalf("group web: hosts %v, want %v", got, want)
	}
	if want := (Summary{Hosts: 3, OK: 1, Behind: 1, Failed: 1}); web.Summary != want {
		t.Fatalf("group web: summary %+v, want %+v", web.Summary, want)
	}
	if empty := f.Report(20, "nope", t0); len(empty.Hosts) != 0 || empty.Hosts == nil || empty.Summary.Hosts != 0 {
		t.Fatalf("an unknown group: %+v, want no hosts (an empty list, not null)", empty)
	}
}

// Keys change the fleet as a watch reports them: hosts come and go, an
// unreadable status is a failed host, the hold is set and released, claims
// show duplicate daemons, and keys that are none of these are ignored.
func TestFleetKeys(t *testing.T) {
	k := NewKeys("/fl")
	f := NewFleet(k)
	f.Put(k.Host("a"), encode(t, st("a", "g", 5)), 10)
	f.Put(k.Host("b"), "not json", 11)
	f.Put(k.Barrier(), encode(t, Barrier{By: "me", Since: t0, Nonce: "1"}), 12)
	f.Put(k.Hosts()+"c/extra", encode(t, st("c", "g", 5)), 13)
	f.Put("/other/hosts/d", encode(t, st("d", "g", 5)), 14)
	rep := f.Report(5, "", t0)
	if got := names(rep.Hosts); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("hosts %v, want b (unreadable, failed) and a", got)
	}
	if b := rep.Hosts[0]; b.State != StateFailed || b.Problem == "" {
		t.Fatalf("unreadable status: %+v, want failed with a problem", b)
	}

	f.Put(k.Hold(), encode(t, Hold{Reason: "freeze", User: "ann", Host: "box", Since: t0}), 15)
	if h := f.Hold(); h == nil || h.Reason != "freeze" || h.User != "ann" {
		t.Fatalf("hold %+v, want freeze by ann", h)
	}
	f.Delete(k.Hold())
	if f.Hold() != nil {
		t.Fatalf("hold %+v after its deletion", f.Hold())
	}

	f.Put(k.Claim("a", "i1"), encode(t, Claim{Instance: "i1", Hostname: "h1", PID: 7, Started: t0}), 16)
	if rep := f.Report(5, "", t0); rep.Hosts[1].Claims != nil {
		t.Fatalf("one claim reported as duplicates: %+v", rep.Hosts[1].Claims)
	}
	f.Put(k.Claim("a", "i2"), encode(t, Claim{Instance: "i2", Hostname: "h2", PID: 8, Started: t0.Add(time.Second)}), 17)
	rep = f.Report(5, "", t0)
	if got := rep.Hosts[1].Claims; len(got) != 2 || got[0].Instance != "i1" || got[1].Instance != "i2" {
		t.Fatalf("claims %+v, want i1 then i2", got)
	}
	f.Delete(k.Claim("a", "i2"))
	if rep := f.Report(5, "", t0); rep.Hosts[1].Claims != nil {
		t.Fatalf("claims %+v after the second one's lease expired", rep.Hosts[1].Claims)
	}

	f.Delete(k.Host("b"))
	if got := names(f.Report(5, "", t0).Hosts); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("hosts %v after b's deletion, want a", got)
	}
}

// A daemon that found another claiming its name says so in its status,
// and the report lists both even before the reader saw the claims.
func TestDuplicatesFromTheStatus(t *testing.T) {
	other := Claim{Instance: "zz", Hostname: "elsewhere", PID: 9, Started: t0}
	f := fleetOf(t, st("a", "g", 5, func(s *Status) { s.Duplicates = []Claim{other} }))
	got := f.Report(5, "", t0).Hosts[0].Claims
	if len(got) != 2 || got[0].Instance != "a-i" || got[1].Instance != "zz" {
		t.Fatalf("claims %+v, want the host's own and the duplicate", got)
	}
}

func TestSettled(t *testing.T) {
	k := NewKeys("")
	for _, tc := range []struct {
		name   string
		put    func(f *Fleet)
		group  string
		settle bool
	}{
		{name: "no hosts", put: func(*Fleet) {}, settle: true},
		{name: "every host at the barrier", put: func(f *Fleet) {
			f.Put(k.Host("a"), encode(t, st("a", "g", 50)), 51)
			f.Put(k.Host("b"), encode(t, st("b", "g", 52)), 52)
		}, settle: true},
		{name: "a host below the barrier", put: func(f *Fleet) {
			f.Put(k.Host("a"), encode(t, st("a", "g", 50)), 51)
			f.Put(k.Host("b"), encode(t, st("b", "g", 40)), 40)
		}},
		{name: "a host below the barrier in another group", put: func(f *Fleet) {
			f.Put(k.Host("a"), encode(t, st("a", "g", 50)), 51)
			f.Put(k.Host("b"), encode(t, st("b", "h", 40)), 40)
		}, group: "g", settle: true},
		{name: "a failed host at the barrier", put: func(f *Fleet) {
			f.Put(k.Host("a"), encode(t, st("a", "g", 50, failing("x", "boom"))), 51)
		}, settle: true},
		{name: "a held host that answered", put: func(f *Fleet) {
			f.Put(k.Host("a"), encode(t, st("a", "g", 40, held("freeze"))), 51)
		}, settle: true},
		{name: "a held host that has not answered yet", put: func(f *Fleet) {
			f.Put(k.Host("a"), encode(t, st("a", "g", 40, held("freeze"))), 45)
		}},
		{name: "an unreadable status written after the barrier", put: func(f *Fleet) {
			f.Put(k.Host("a"), "garbage", 51)
		}, settle: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFleet(k)
			tc.put(f)
			if got := f.Settled(50, tc.group); got != tc.settle {
				t.Fatalf("Settled(50) = %v, want %v", got, tc.settle)
			}
		})
	}
}

func TestWait(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hosts      []*Status
		group      string
		minHosts   int
		want       Outcome
		wantAt     int
		wantFailed []string
		wantBehind []string
	}{
		{name: "every host at the revision", hosts: []*Status{st("a", "g", 10), st("b", "g", 11)}, minHosts: 1, want: Converged, wantAt: 2},
		{name: "one behind", hosts: []*Status{st("a", "g", 10), st("b", "g", 9)}, minHosts: 1, want: Waiting, wantAt: 1, wantBehind: []string{"b"}},
		{name: "a failure at the revision ends it", hosts: []*Status{st("a", "g", 9), st("b", "g", 10, failing("nginx", "check failed"))},
			minHosts: 1, want: FailedAt, wantFailed: []string{"b"}, wantBehind: []string{"a"}},
		{name: "unhealthy at the revision ends it", hosts: []*Status{st("a", "g", 10, unhealthy("the last cycle failed"))},
			minHosts: 1, want: FailedAt, wantFailed: []string{"a"}},
		{name: "a failure below the revision may still recover", hosts: []*Status{st("a", "g", 9, failing("nginx", "old")), st("b", "g", 10)},
			minHosts: 1, want: Waiting, wantAt: 1, wantBehind: []string{"a"}},
		{name: "fewer than the minimum", hosts: []*Status{st("a", "g", 10), st("b", "g", 10)}, minHosts: 3, want: Waiting, wantAt: 2},
		{name: "exactly the minimum", hosts: []*Status{st("a", "g", 10), st("b", "g", 10)}, minHosts: 2, want: Converged, wantAt: 2},
		{name: "no hosts never converge", minHosts: 1, want: Waiting},
		{name: "no hosts and no minimum", minHosts: 0, want: Converged},
		{name: "the group only", hosts: []*Status{st("a", "g", 10), st("b", "h", 3, failing("x", "y"))}, group: "g", minHosts: 1, want: Converged, wantAt: 1},
		{name: "held below the revision", hosts: []*Status{st("a", "g", 10), st("b", "g", 8, held("freeze"))}, minHosts: 1, want: Waiting, wantAt: 1, wantBehind: []string{"b"}},
		{name: "held at the revision", hosts: []*Status{st("a", "g", 10, held("freeze"))}, minHosts: 1, want: Converged, wantAt: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fleetOf(t, tc.hosts...)
			v := f.Wait(10, tc.group, tc.minHosts, t0)
			if o := f.Outcome(10, tc.group, tc.minHosts); o != v.Outcome {
				t.Fatalf("Outcome = %s, Wait's verdict %s", o, v.Outcome)
			}
			if v.Outcome != tc.want || v.At != tc.wantAt || !slices.Equal(names(v.Failed), tc.wantFailed) || !slices.Equal(names(v.Behind), tc.wantBehind) {
				t.Fatalf("Wait = %s, at %d, failed %v, behind %v; want %s, at %d, failed %v, behind %v",
					v.Outcome, v.At, names(v.Failed), names(v.Behind), tc.want, tc.wantAt, tc.wantFailed, tc.wantBehind)
			}
			if v.Live != len(tc.wantFailed)+len(tc.wantBehind)+tc.wantAt {
				t.Fatalf("live %d, want the sum of at, failed and behind", v.Live)
			}
		})
	}
}

// A host that stops reporting (its key deleted: lease expired) stops
// counting, and the wait may converge without it.
func TestWaitHostGone(t *testing.T) {
	f := fleetOf(t, st("a", "g", 10), st("b", "g", 4))
	if v := f.Wait(10, "", 1, t0); v.Outcome != Waiting {
		t.Fatalf("with b behind: %s", v.Outcome)
	}
	f.Delete(f.Keys().Host("b"))
	if v := f.Wait(10, "", 1, t0); v.Outcome != Converged || v.Live != 1 {
		t.Fatalf("after b is gone: %s, %d live; want converged with 1", v.Outcome, v.Live)
	}
}

// The report's JSON document keeps its field names: `fleet serve` and
// scripts read it.
func TestReportJSON(t *testing.T) {
	f := fleetOf(t, st("a", "g", 9, failing("nginx", "boom")))
	data, err := json.Marshal(f.Report(10, "g", t0))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "fleet_prefix", "group", "revision", "barrier", "time", "hold", "hosts", "summary"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in %s", k, data)
		}
	}
	h := doc["hosts"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "group", "state", "at", "lag", "healthy", "failing", "counts", "reported", "age_seconds"} {
		if _, ok := h[k]; !ok {
			t.Errorf("no %q in host %v", k, h)
		}
	}
}

// Whatever the texts a status carries — a hold's reason, a gate's reason
// naming every failing canary, a promotion's user, many duplicates — it
// encodes within the bound, keeping the start of each.
func TestEncodeBoundsEveryText(t *testing.T) {
	long := strings.Repeat("x", 3*MaxStatusBytes)
	dups := make([]Claim, 1000)
	for i := range dups {
		dups[i] = Claim{Instance: fmt.Sprint(i), Hostname: strings.Repeat("h", 200), PID: i}
	}
	s := &Status{Name: "a", Healthy: true, Held: "INC-1 " + long, Problem: long, Duplicates: dups,
		Following: &Following{Group: "canary", Reason: "canary c1 failed " + long, Promoted: &Promote{Revision: 1, User: long, Host: long}},
		Bindings:  []Binding{{ID: "app", Outcome: Failed, Error: long}}}
	data, err := s.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if len(data) > MaxStatusBytes {
		t.Fatalf("%d bytes, over the bound of %d", len(data), MaxStatusBytes)
	}
	got, err := DecodeStatus(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Held, "INC-1 xxx") || !strings.HasPrefix(got.Following.Reason, "canary c1 failed xxx") || got.Counts.Failed != 1 {
		t.Errorf("decoded: held %.20q, reason %.30q, counts %+v", got.Held, got.Following.Reason, got.Counts)
	}
	if s.Held != "INC-1 "+long || len(s.Duplicates) != 1000 || s.Following.Reason != "canary c1 failed "+long {
		t.Error("Encode changed the status it encoded")
	}
}

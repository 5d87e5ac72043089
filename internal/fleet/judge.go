package fleet

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// State is how a reader judges a host against a revision.
type State string

// States, from worst to best.
const (
	// StateFailed: a binding failed, or the daemon is not healthy.
	StateFailed State = "failed"
	// StateHeld: the host obeys a hold.
	StateHeld State = "held"
	// StateBehind: the host is not yet at the revision.
	StateBehind State = "behind"
	// StateOK: the host is at the revision and healthy.
	StateOK State = "ok"
)

// Judge returns the state of the host s against revision r: failed when
// a binding failed or the daemon is not healthy, else held when it obeys
// a hold, else behind when it is not at r, else ok.
func Judge(s *Status, r int64) State {
	switch {
	case !s.Healthy || s.Counts.Failed > 0 || len(s.Failing()) > 0:
		return StateFailed
	case s.Held != "":
		return StateHeld
	case s.At < r:
		return StateBehind
	}
	return StateOK
}

// Fleet is what a reader knows of a fleet: the live hosts' statuses, the
// claims on their names and the hold, as read from etcd and kept current
// from a watch of the fleet prefix (Put, Delete).
type Fleet struct {
	keys   Keys
	hosts  map[string]host
	claims map[string]map[string]Claim // name → instance → claim
	hold   *Hold
}

// host is one status key: the document and the revision it was written at.
type host struct {
	status *Status
	mod    int64
	// unreadable is set when the value is not a status document.
	unreadable bool
}

// NewFleet returns an empty fleet under keys.
func NewFleet(keys Keys) *Fleet {
	return &Fleet{keys: keys, hosts: map[string]host{}, claims: map[string]map[string]Claim{}}
}

// Keys are the fleet's keys.
func (f *Fleet) Keys() Keys { return f.keys }

// Put records that key was set to value at revision rev. Keys outside the
// fleet's hosts, claims and hold are ignored (the barrier among them). A
// status that does not decode stays a live host, failed, with the reason
// as its problem: a host is never silently dropped.
func (f *Fleet) Put(key, value string, rev int64) {
	switch {
	case f.keys.NameOf(key) != "":
		name := f.keys.NameOf(key)
		s, err := DecodeStatus([]byte(value))
		if err != nil {
			f.hosts[name] = host{status: &Status{Name: name, Problem: FirstLine("unreadable status: "+err.Error(), maxErrorBytes)}, mod: rev, unreadable: true}
			return
		}
		s.Name = name // the key names the host, whatever the document says
		f.hosts[name] = host{status: s, mod: rev}
	case key == f.keys.Hold():
		h := DecodeHold([]byte(value))
		f.hold = &h
	default:
		name, instance, ok := f.claimOf(key)
		if !ok {
			return
		}
		c, err := decodeClaim(value)
		if err != nil {
			c = Claim{}
		}
		c.Instance = instance
		if f.claims[name] == nil {
			f.claims[name] = map[string]Claim{}
		}
		f.claims[name][instance] = c
	}
}

// Delete records that key was deleted (a status or claim whose lease
// expired: the host is gone; the hold: released).
func (f *Fleet) Delete(key string) {
	switch {
	case f.keys.NameOf(key) != "":
		delete(f.hosts, f.keys.NameOf(key))
	case key == f.keys.Hold():
		f.hold = nil
	default:
		if name, instance, ok := f.claimOf(key); ok {
			delete(f.claims[name], instance)
			if len(f.claims[name]) == 0 {
				delete(f.claims, name)
			}
		}
	}
}

// claimOf splits a claim key into name and instance.
func (f *Fleet) claimOf(key string) (name, instance string, ok bool) {
	rest, ok := strings.CutPrefix(key, f.keys.Prefix()+"/claims/")
	if !ok {
		return "", "", false
	}
	name, instance, ok = strings.Cut(rest, "/")
	if !ok || name == "" || instance == "" || strings.Contains(instance, "/") {
		return "", "", false
	}
	return name, instance, true
}

// Hold returns the hold, nil when the fleet is not held.
func (f *Fleet) Hold() *Hold { return f.hold }

// members returns the live hosts of group ("" is every group), by name.
func (f *Fleet) members(group string) []host {
	var out []host
	for _, name := range slices.Sorted(maps.Keys(f.hosts)) {
		h := f.hosts[name]
		if group == "" || h.status.Group == group {
			out = append(out, h)
		}
	}
	return out
}

// Settled reports whether every live host of group has answered a
// barrier written at revision b: it is at b, or it wrote its status after
// b and cannot get there (it is held, or its status does not decode).
func (f *Fleet) Settled(b int64, group string) bool {
	for _, h := range f.hosts {
		if group != "" && h.status.Group != group {
			continue
		}
		if h.status.At < b && !(h.mod > b && (h.status.Held != "" || h.unreadable)) {
			return false
		}
	}
	return true
}

// Failure is one failing binding of a host.
type Failure struct {
	ID       string `json:"id"`
	Target   string `json:"target"`
	Error    string `json:"error"`
	Revision int64  `json:"revision"`
}

// HostReport is one host as a report shows it.
type HostReport struct {
	Name     string `json:"name"`
	Group    string `json:"group"`
	State    State  `json:"state"`
	At       int64  `json:"at"`
	Lag      int64  `json:"lag"`
	Healthy  bool   `json:"healthy"`
	Problem  string `json:"problem,omitempty"`
	Held     string `json:"held,omitempty"`
	Reconfig string `json:"reconfig,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	PID      int    `json:"pid,omitempty"`
	// Failing are the failed bindings, first error line each.
	Failing []Failure `json:"failing,omitempty"`
	Counts  Counts    `json:"counts"`
	Omitted int       `json:"omitted,omitempty"`
	// Claims lists every daemon claiming the host's name when more than
	// one does (duplicate daemons), from the claims and from the daemon's
	// own report.
	Claims   []Claim   `json:"duplicate_claims,omitempty"`
	Reported time.Time `json:"reported"`
	// Age is how long ago the status was written.
	Age time.Duration `json:"-"`
	// AgeSeconds is Age in whole seconds, for JSON.
	AgeSeconds int64 `json:"age_seconds"`
}

// Summary counts the hosts of a report by state.
type Summary struct {
	Hosts  int `json:"hosts"`
	OK     int `json:"ok"`
	Behind int `json:"behind"`
	Failed int `json:"failed"`
	Held   int `json:"held"`
}

// Report is a fleet judged against one revision: what `fleet status`
// prints and its JSON document.
type Report struct {
	// Version is the version of the JSON document.
	Version int    `json:"version"`
	Prefix  string `json:"fleet_prefix"`
	Group   string `json:"group,omitempty"`
	// Revision is what the hosts are judged against: the barrier's
	// revision, or (Barrier false) the revision the fleet was read at.
	Revision int64 `json:"revision"`
	Barrier  bool  `json:"barrier"`
	// BarrierError says why no barrier was written.
	BarrierError string       `json:"barrier_error,omitempty"`
	Time         time.Time    `json:"time"`
	Hold         *Hold        `json:"hold"`
	Hosts        []HostReport `json:"hosts"`
	Summary      Summary      `json:"summary"`
}

// ReportVersion is the version of the Report document.
const ReportVersion = 1

// Report judges the live hosts of group ("" for all) against revision r
// at time now: failed hosts first, then by name.
func (f *Fleet) Report(r int64, group string, now time.Time) *Report {
	rep := &Report{Version: ReportVersion, Prefix: f.keys.Prefix(), Group: group, Revision: r, Time: now, Hold: f.hold, Hosts: []HostReport{}}
	for _, h := range f.members(group) {
		hr := f.hostReport(h, r, now)
		rep.Hosts = append(rep.Hosts, hr)
		rep.Summary.Hosts++
		switch hr.State {
		case StateOK:
			rep.Summary.OK++
		case StateBehind:
			rep.Summary.Behind++
		case StateFailed:
			rep.Summary.Failed++
		case StateHeld:
			rep.Summary.Held++
		}
	}
	slices.SortStableFunc(rep.Hosts, func(a, b HostReport) int {
		if fa, fb := a.State == StateFailed, b.State == StateFailed; fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return rep
}

func (f *Fleet) hostReport(h host, r int64, now time.Time) HostReport {
	s := h.status
	hr := HostReport{
		Name: s.Name, Group: s.Group, State: Judge(s, r), At: s.At, Lag: max(r-s.At, 0),
		Healthy: s.Healthy, Problem: s.Problem, Held: s.Held, Reconfig: s.Reconfig,
		Hostname: s.Hostname, PID: s.PID, Counts: s.Counts, Omitted: s.Omitted, Reported: s.Reported,
	}
	if !s.Reported.IsZero() {
		hr.Age = max(now.Sub(s.Reported), 0)
		hr.AgeSeconds = int64(hr.Age / time.Second)
	}
	for _, b := range s.Failing() {
		hr.Failing = append(hr.Failing, Failure{ID: b.ID, Target: b.Target, Error: FirstLine(b.Error, maxErrorBytes), Revision: b.Revision})
	}
	hr.Claims = f.duplicates(s)
	return hr
}

// duplicates returns every daemon claiming s's name when more than one
// does: the claims under the name and the duplicates the daemon reported,
// by instance, sorted by start.
func (f *Fleet) duplicates(s *Status) []Claim {
	all := maps.Clone(f.claims[s.Name])
	if all == nil {
		all = map[string]Claim{}
	}
	if len(s.Duplicates) > 0 {
		for _, c := range append([]Claim{s.Claim}, s.Duplicates...) {
			if _, seen := all[c.Instance]; !seen {
				all[c.Instance] = c
			}
		}
	}
	if len(all) < 2 {
		return nil
	}
	out := slices.Collect(maps.Values(all))
	slices.SortFunc(out, func(a, b Claim) int {
		return cmp.Or(a.Started.Compare(b.Started), strings.Compare(a.Instance, b.Instance))
	})
	return out
}

// decodeClaim reads a claim document.
func decodeClaim(value string) (Claim, error) {
	var c Claim
	err := json.Unmarshal([]byte(value), &c)
	return c, err
}

// Outcome is where a `fleet wait` stands.
type Outcome string

// Outcomes of a wait.
const (
	// Converged: every live host of the group, at least the minimum, is
	// at the revision and none failed.
	Converged Outcome = "converged"
	// FailedAt: a host at the revision failed; the wait ends at once.
	FailedAt Outcome = "failed"
	// Waiting: not yet.
	Waiting Outcome = "waiting"
	// TimedOut: still waiting when the time was up (set by the waiter).
	TimedOut Outcome = "timeout"
)

// Verdict is the evaluation of a wait for revision Revision.
type Verdict struct {
	Outcome  Outcome `json:"outcome"`
	Revision int64   `json:"revision"`
	Group    string  `json:"group,omitempty"`
	MinHosts int     `json:"min_hosts"`
	// Live counts the live hosts of the group; At those at the revision
	// and not failed.
	Live int `json:"live"`
	At   int `json:"at"`
	// Failed are the hosts that failed at the revision, by name (the first
	// is the one the wait names).
	Failed []HostReport `json:"failed,omitempty"`
	// Behind are the hosts not yet at the revision (held ones among them,
	// with their state held), by name.
	Behind []HostReport `json:"behind,omitempty"`
	// Hold is the fleet's hold, if any.
	Hold *Hold `json:"hold,omitempty"`
	// Elapsed is how long the wait took (set by the waiter).
	Elapsed time.Duration `json:"-"`
	// ElapsedSeconds is Elapsed for JSON.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// Outcome is Wait's outcome alone, without building the verdict: cheap
// enough to evaluate after every change a watch reports.
func (f *Fleet) Outcome(r int64, group string, minHosts int) Outcome {
	live, behind := 0, 0
	for _, h := range f.hosts {
		if group != "" && h.status.Group != group {
			continue
		}
		live++
		switch {
		case h.status.At >= r && Judge(h.status, r) == StateFailed:
			return FailedAt
		case h.status.At < r:
			behind++
		}
	}
	if live >= minHosts && behind == 0 {
		return Converged
	}
	return Waiting
}

// Wait evaluates a wait for revision r over the live hosts of group (""
// for all) at time now. A host is at r when its status says At ≥ r; one
// that is at r and failed ends the wait (FailedAt). Otherwise the wait has
// converged when at least minHosts hosts are live and every one is at r;
// a held host whose status is at r counts as at r (a hold stops only
// changes the host has not applied, and it has applied everything up to
// r). A failed host below r may still recover with r: it is behind.
func (f *Fleet) Wait(r int64, group string, minHosts int, now time.Time) Verdict {
	v := Verdict{Outcome: f.Outcome(r, group, minHosts), Revision: r, Group: group, MinHosts: minHosts, Hold: f.hold}
	for _, h := range f.members(group) {
		hr := f.hostReport(h, r, now)
		v.Live++
		switch {
		case h.status.At >= r && hr.State == StateFailed:
			v.Failed = append(v.Failed, hr)
		case h.status.At >= r:
			v.At++
		default:
			v.Behind = append(v.Behind, hr)
		}
	}
	return v
}

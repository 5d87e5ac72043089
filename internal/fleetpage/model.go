package fleetpage

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/reconfig/reconfig/internal/fleet"
)

// model is what the page knows of the fleet: the fleet as package fleet
// keeps it, plus what the page shows that a Report leaves out (where each
// follower stands, the barrier, the promotion) and etcd's revision as last
// seen. It is not safe for concurrent use; Page guards it.
type model struct {
	keys  fleet.Keys
	group string
	fleet *fleet.Fleet
	// following is each follower's Following, by host name.
	following map[string]*fleet.Following
	// barrier is the revision of the newest barrier seen, and barrierDoc
	// what it says; judged is the barrier hosts are judged against (the
	// newest one once settled, see judgedRevision).
	barrier    int64
	barrierDoc fleet.Barrier
	barrierAt  time.Time // when the page saw it
	judged     int64
	promote    *fleet.Promote
	// etcdRev is the newest revision any etcd response carried; readAt
	// the revision the fleet was read at.
	etcdRev, readAt int64
}

func newModel(keys fleet.Keys, group string) *model {
	return &model{keys: keys, group: group, fleet: fleet.NewFleet(keys), following: map[string]*fleet.Following{}}
}

// put records that key was set to value at rev, seen at now.
func (m *model) put(key, value string, rev int64, now time.Time) {
	m.fleet.Put(key, value, rev)
	switch {
	case m.keys.NameOf(key) != "":
		name := m.keys.NameOf(key)
		delete(m.following, name)
		if s, err := fleet.DecodeStatus([]byte(value)); err == nil && s.Following != nil {
			m.following[name] = s.Following
		}
	case key == m.keys.Barrier():
		m.barrier, m.barrierAt = rev, now
		m.barrierDoc = fleet.Barrier{}
		json.Unmarshal([]byte(value), &m.barrierDoc) // an unreadable barrier is still a barrier
	case key == m.keys.Promote():
		var p fleet.Promote
		if json.Unmarshal([]byte(value), &p) == nil {
			m.promote = &p
		}
	}
	m.etcdRev = max(m.etcdRev, rev)
}

// delete records that key was deleted at rev.
func (m *model) delete(key string, rev int64) {
	m.fleet.Delete(key)
	switch {
	case m.keys.NameOf(key) != "":
		delete(m.following, m.keys.NameOf(key))
	case key == m.keys.Promote():
		m.promote = nil
	}
	m.etcdRev = max(m.etcdRev, rev)
}

// judgedRevision returns the revision hosts are judged against at now,
// and whether it is a barrier's: the newest barrier once every host of
// the group answered it or settle has passed since the page saw it (as
// `fleet status --settle` waits), else the barrier before it; with no
// barrier, the revision the page read the fleet at (as `fleet status`
// judges when it may not write one): not etcd's newest revision, which
// every host's report moves, so that hosts would all look behind and every
// row change with each report. It also says when to look again (zero: no
// need).
func (m *model) judgedRevision(now time.Time, settle time.Duration) (rev int64, barrier bool, recheck time.Time) {
	if m.barrier > m.judged {
		switch deadline := m.barrierAt.Add(settle); {
		case m.judged == 0 || m.fleet.Settled(m.barrier, m.group) || !now.Before(deadline):
			m.judged = m.barrier
		default:
			recheck = deadline
		}
	}
	if m.judged == 0 {
		return m.readAt, false, recheck
	}
	return m.judged, true, recheck
}

// report is the fleet judged now: the document of `fleet status --json`.
func (m *model) report(now time.Time, settle time.Duration) *fleet.Report {
	r, barrier, _ := m.judgedRevision(now, settle)
	rep := m.fleet.Report(r, m.group, now)
	rep.Barrier = barrier
	if !barrier {
		rep.BarrierError = fmt.Sprintf("no barrier under %s yet: hosts are judged against revision %d, when the page read the fleet; `reconfig fleet status` writes one, the page writes none", m.keys.Barrier(), m.readAt)
	}
	return rep
}

// Row is one host as the page shows it.
type Row struct {
	Name    string      `json:"name"`
	Group   string      `json:"group"`
	State   fleet.State `json:"state"`
	At      int64       `json:"at"`
	Lag     int64       `json:"lag"`
	Problem string      `json:"problem,omitempty"`
	Held    string      `json:"held,omitempty"`
	// Failing are the failed bindings (first error line each); More
	// counts those left out of the status for its size.
	Failing []fleet.Failure `json:"failing,omitempty"`
	More    int             `json:"more_failed,omitempty"`
	// Following says where a follower of a canary group stands.
	Following  string    `json:"following,omitempty"`
	Duplicates int       `json:"duplicates,omitempty"`
	Reported   time.Time `json:"reported"`
	Hostname   string    `json:"hostname,omitempty"`
	PID        int       `json:"pid,omitempty"`
	Reconfig   string    `json:"reconfig,omitempty"`
}

func (m *model) row(h fleet.HostReport) Row {
	r := Row{Name: h.Name, Group: h.Group, State: h.State, At: h.At, Lag: h.Lag, Held: h.Held, Failing: h.Failing,
		More: max(h.Counts.Failed-len(h.Failing), 0), Duplicates: len(h.Claims), Reported: h.Reported,
		Hostname: h.Hostname, PID: h.PID, Reconfig: h.Reconfig}
	if !h.Healthy {
		r.Problem = h.Problem
		if r.Problem == "" {
			r.Problem = "the daemon reports it is not healthy"
		}
	}
	// A follower held back by its gate says so as its hold: once is
	// enough.
	if f := m.following[h.Name]; f != nil && f.Describe(h.At) != h.Held {
		r.Following = f.Describe(h.At)
	}
	return r
}

// Gate is where the followers of one canary group stand.
type Gate struct {
	// Group is the followed group; Followers counts its live followers.
	Group     string `json:"group"`
	Followers int    `json:"followers"`
	// Gate is the lowest gate of the followers (the revision every one of
	// them may render), GateMax the highest.
	Gate    int64 `json:"gate"`
	GateMax int64 `json:"gate_max"`
	// Waiting is the newest change a follower holds back (0: none), and
	// Reason why, as the follower with the lowest gate says.
	Waiting  int64          `json:"waiting,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Promoted *fleet.Promote `json:"promoted,omitempty"`
}

// gates summarizes the followers of the report's hosts by followed group.
func (m *model) gates(rep *fleet.Report) []Gate {
	by := map[string]*Gate{}
	for _, h := range rep.Hosts {
		f := m.following[h.Name]
		if f == nil {
			continue
		}
		g := by[f.Group]
		if g == nil {
			g = &Gate{Group: f.Group, Gate: f.Gate, Reason: f.Reason}
			by[f.Group] = g
		}
		g.Followers++
		if f.Gate < g.Gate {
			g.Gate, g.Reason = f.Gate, f.Reason
		}
		g.GateMax = max(g.GateMax, f.Gate)
		g.Waiting = max(g.Waiting, f.Waiting)
		if f.Promoted != nil {
			g.Promoted = f.Promoted
		}
	}
	out := make([]Gate, 0, len(by))
	for _, k := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[k])
	}
	return out
}

// Sample is the fleet's summary at one time, for the history bars.
type Sample struct {
	Time   int64 `json:"t"` // Unix seconds
	Hosts  int   `json:"hosts"`
	At     int   `json:"at"`
	Failed int   `json:"failed"`
	Held   int   `json:"held"`
}

// Health is the page's own health: its etcd watch.
type Health struct {
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

// Frame is one server-sent event: a full frame replaces everything the
// page shows; a partial one (Full false) carries every header field but
// only the hosts that changed (Hosts) and the names of those that left
// (Gone), and History only when a sample was added.
type Frame struct {
	Full         bool            `json:"full"`
	Time         time.Time       `json:"time"`
	Prefix       string          `json:"fleet_prefix"`
	Group        string          `json:"group,omitempty"`
	EtcdRevision int64           `json:"etcd_revision"`
	Revision     int64           `json:"revision"`
	Barrier      bool            `json:"barrier"`
	BarrierBy    string          `json:"barrier_by,omitempty"`
	BarrierSince time.Time       `json:"barrier_since,omitzero"`
	Summary      fleet.Summary   `json:"summary"`
	Hold         *fleet.Hold     `json:"hold"`
	Gates        []Gate          `json:"gates"`
	Health       Health          `json:"health"`
	History      []Sample        `json:"history,omitempty"`
	Hosts        json.RawMessage `json:"hosts,omitempty"`
	Gone         []string        `json:"gone,omitempty"`
}

// rendering is one rendering of the model: the frame's header, and each host's
// row encoded, for diffing against the previous view.
type rendering struct {
	head Frame
	rows map[string][]byte
	// order is the rows' names in the report's order (failed first).
	order []string
}

// render judges the model at now and encodes every row.
func (m *model) render(now time.Time, settle time.Duration, health Health) (rendering, error) {
	rep := m.report(now, settle)
	v := rendering{rows: make(map[string][]byte, len(rep.Hosts)), order: make([]string, 0, len(rep.Hosts))}
	v.head = Frame{Time: now.UTC(), Prefix: rep.Prefix, Group: rep.Group, EtcdRevision: m.etcdRev, Revision: rep.Revision,
		Barrier: rep.Barrier, Summary: rep.Summary, Hold: rep.Hold, Gates: m.gates(rep), Health: health}
	if rep.Barrier && rep.Revision == m.barrier {
		v.head.BarrierBy, v.head.BarrierSince = m.barrierDoc.By, m.barrierDoc.Since
	}
	for _, h := range rep.Hosts {
		data, err := json.Marshal(m.row(h))
		if err != nil {
			return rendering{}, fmt.Errorf("host %s: %w", h.Name, err)
		}
		v.rows[h.Name] = data
		v.order = append(v.order, h.Name)
	}
	return v, nil
}

// full is the frame that shows v from scratch.
func (v rendering) full(history []Sample) ([]byte, error) {
	f := v.head
	f.Full, f.History = true, history
	f.Hosts = joinRows(v.order, v.rows, nil)
	return json.Marshal(f)
}

// delta is the frame that turns prev into v (nil when nothing changed and
// no history is due).
func (v rendering) delta(prev rendering, history []Sample) ([]byte, error) {
	f := v.head
	f.History = history
	var changed []string
	for _, name := range v.order {
		if old, ok := prev.rows[name]; !ok || string(old) != string(v.rows[name]) {
			changed = append(changed, name)
		}
	}
	for _, name := range prev.order {
		if _, ok := v.rows[name]; !ok {
			f.Gone = append(f.Gone, name)
		}
	}
	p := prev.head
	p.Time, f.Time = time.Time{}, time.Time{}
	same, err := sameJSON(p, f)
	if err != nil {
		return nil, err
	}
	if same && len(changed) == 0 && len(f.Gone) == 0 && history == nil {
		return nil, nil
	}
	f.Time = v.head.Time
	f.Hosts = joinRows(changed, v.rows, nil)
	return json.Marshal(f)
}

// joinRows encodes the rows of names as one JSON array.
func joinRows(names []string, rows map[string][]byte, buf []byte) json.RawMessage {
	buf = append(buf, '[')
	for i, n := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, rows[n]...)
	}
	return append(buf, ']')
}

func sameJSON(a, b Frame) (bool, error) {
	x, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	y, err := json.Marshal(b)
	return string(x) == string(y), err
}

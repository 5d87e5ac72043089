package watch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/hint"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/plan"
)

// FleetOptions make the daemon a member of a fleet (watch --fleet): it
// reports what it applied under its name, obeys the fleet's hold, and
// answers barriers.
type FleetOptions struct {
	Keys  fleet.Keys
	Name  string
	Group string
	// TTL is the lease of the status and claim (default fleet.DefaultTTL).
	TTL time.Duration
	// Version is reconfig's version, reported.
	Version string
	// Follow, when set, makes the daemon a follower of a canary group.
	Follow *FollowOptions
}

// minReportGap is the least time between two status writes of a host: a
// burst of changes costs etcd at most two writes a second per host.
const minReportGap = time.Second

// maxReportDelay bounds how long a report waits for the cycles of a burst
// of changes to be done.
const maxReportDelay = 5 * time.Second

// A report that becomes due within burstWindow of the last one written is
// part of a burst of changes: it waits until no cycle has run for settle
// (at most maxReportDelay), so that a burst costs etcd two writes per host
// — its first change, and where the host ended — instead of one a second.
const (
	burstWindow = 2 * time.Second
	settle      = 300 * time.Millisecond
)

// askAgain is how long a report waits for the answer to its first progress
// request before it asks again; each later wait is twice the one before.
const askAgain = 100 * time.Millisecond

// evenWait bounds how long a report waits for the watch stream to prove
// every span current (a progress notification) before it is written with
// the revision proven so far.
const evenWait = 2 * time.Second

// member is the daemon's part in a fleet: who it is, what it last
// reported, the hold it obeys and the daemons that claim its name too.
type member struct {
	o     FleetOptions
	claim fleet.Claim
	// hold is the hold in force (nil: none).
	hold *fleet.Hold
	// duplicates are the other live claims on the name; owner is false
	// when one of them is older: the oldest claimant alone writes the
	// status, the others say so in their health and log.
	duplicates []fleet.Claim
	owner      bool
	// outcomes is each binding's last outcome.
	outcomes map[string]fleet.Binding
	// at is the revision reported as reached, atTime when.
	at     int64
	atTime time.Time
	// want is set when a report is due: the first of a session, a
	// barrier, a cycle that changed or failed something, a change of
	// hold, health or duplicates. asked is when the spans were first
	// asked to prove themselves current for it.
	want  bool
	asked time.Time
	// askAt is when to ask again, asks how many times it was asked.
	askAt time.Time
	asks  int
	// wanted is when the report now due became due; offered when the
	// last report was handed to the writer; cycled when the last cycle
	// ended.
	wanted, offered, cycled time.Time
	// barrier is set when a barrier was seen: the next report is written
	// even if it says nothing new, as the host's answer.
	barrier bool
	// last is the judged content of the last report handed to the
	// writer: a report that would say the same thing is not written.
	last string
	// health is the health last looked at.
	health string
	// w writes the reports of one session; lost closes when its lease
	// cannot be renewed.
	w    *reportWriter
	lost <-chan struct{}
	// prevLease is the lease of the previous session, revoked once the
	// new one holds the keys.
	prevLease etcd.Lease
	// gate is a follower's view of the group it follows (nil: not a
	// follower).
	gate *gate
	// stop ends the renewal and the writer of the current lease.
	stop context.CancelFunc
	// joined is set once the daemon has joined its fleet. From then on, a
	// role that may no longer write the fleet keys does not end the
	// daemon, which goes on applying: refused says why it cannot join,
	// and it tries again at rejoinAt, each wait twice the one before.
	joined   bool
	refused  string
	rejoinAt time.Time
	rejoinIn time.Duration
}

// Waits between tries to join again when the fleet keys cannot be written.
const (
	rejoinMin = time.Second
	rejoinMax = 30 * time.Second
)

func newMember(o FleetOptions) (*member, error) {
	if o.TTL <= 0 {
		o.TTL = fleet.DefaultTTL
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("--fleet: cannot read the host name: %w", err)
	}
	id := make([]byte, 8)
	rand.Read(id)
	m := &member{o: o, owner: true, outcomes: map[string]fleet.Binding{},
		claim: fleet.Claim{Instance: hex.EncodeToString(id), Hostname: host, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second)}}
	if o.Follow != nil {
		m.gate = newGate(*o.Follow)
	}
	return m, nil
}

// fatalError ends the daemon: retrying cannot help.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// selectors are the fleet keys the daemon reads and watches with its
// bindings' keys: the control keys (hold, barrier) and the claims on its
// name.
func (m *member) selectors() []snapshot.Selector {
	sels := []snapshot.Selector{
		{Key: strings.TrimSuffix(m.o.Keys.Control(), "/"), Recursive: true},
		{Key: strings.TrimSuffix(m.o.Keys.Claims(m.o.Name), "/"), Recursive: true},
	}
	if m.gate != nil {
		sels = append(sels, snapshot.Selector{Key: strings.TrimSuffix(m.o.Keys.Group(m.gate.o.Group), "/"), Recursive: true})
	}
	return sels
}

// owns reports whether key is one of the fleet keys the daemon follows.
func (m *member) owns(key string) bool {
	return strings.HasPrefix(key, m.o.Keys.Control()) || strings.HasPrefix(key, m.o.Keys.Claims(m.o.Name)) ||
		(m.gate != nil && strings.HasPrefix(key, m.o.Keys.Group(m.gate.o.Group)))
}

// checkBindings refuses bindings that read the fleet's own keys: every
// status write would change their data.
func checkFleetKeys(keys fleet.Keys, set *bindings.Set) error {
	all := keys.All()
	end := strings.TrimSuffix(all, "/") + "0"
	for _, b := range set.Bindings {
		for _, sel := range b.Selectors() {
			for _, r := range sel.Ranges() {
				if r.Start < end && all < r.End {
					return hint.Wrap(fmt.Errorf("binding %s reads %s, which holds the fleet's own keys (%s…)", b.ID, sel.Key, all),
						"give the fleet keys a prefix no binding reads, like --fleet-prefix /_reconfig")
				}
			}
		}
	}
	return nil
}

// join starts the daemon's membership on a session's client: a new lease,
// renewed until sctx ends or the next join, the claim on the name, and the
// writer of reports. It runs when a session starts and when the lease was
// lost (etcd could not renew it within its TTL), keeping the session's
// watch. A role that may not write the fleet keys ends the daemon.
func (m *member) join(sctx context.Context, cli *etcd.Client, metrics *Metrics, log *slog.Logger) error {
	if m.stop != nil {
		m.stop()
	}
	mctx, cancel := context.WithCancel(sctx)
	m.stop = cancel
	lease, err := cli.GrantLease(sctx, m.o.TTL)
	if err != nil {
		return err
	}
	claim, _ := json.Marshal(m.claim)
	if _, err := cli.PutOnLease(sctx, m.o.Keys.Claim(m.o.Name, m.claim.Instance), string(claim), lease); err != nil {
		if errors.Is(err, etcd.ErrPermissionDenied) {
			err = hint.Wrap(fmt.Errorf("--fleet: cannot write the fleet keys under %s: %w", m.o.Keys.All(), err),
				"grant the role readwrite on the fleet prefix, e.g. etcdctl role grant-permission ROLE readwrite --prefix "+m.o.Keys.All())
			if !m.joined {
				return &fatalError{err}
			}
			// Taken away while the daemon runs: it keeps applying, says
			// so in its health and log, and tries again.
			go cli.RevokeLease(sctx, lease)
			m.refuse(err, metrics, log)
			return nil
		}
		return err
	}
	lost, err := cli.KeepAlive(mctx, lease)
	if err != nil {
		return err
	}
	if prev := m.prevLease; prev != 0 {
		go cli.RevokeLease(sctx, prev)
	}
	m.prevLease = lease
	m.lost = lost
	m.w = newReportWriter(cli, lease, m.o.Keys.Host(m.o.Name), m.o.Keys.Member(m.o.Group, m.o.Name), metrics, log)
	go m.w.run(mctx)
	m.last, m.want, m.asked = "", true, time.Time{}
	if m.refused != "" {
		log.Info("the fleet keys can be written again; reporting", "key", m.o.Keys.Host(m.o.Name))
		m.refused, m.rejoinIn = "", 0
		metrics.setReport("")
	}
	m.joined = true
	return nil
}

// refuse records that the daemon cannot join its fleet now: no writer, no
// lease to lose, a try again later; the first refusal is logged.
func (m *member) refuse(err error, metrics *Metrics, log *slog.Logger) {
	if m.stop != nil {
		m.stop()
	}
	why := "cannot write the fleet status to " + m.o.Keys.Host(m.o.Name) + ": " + err.Error()
	if m.refused == "" {
		log.Error("cannot join the fleet; applying goes on, unreported, and joining is tried again", "error", err.Error())
	}
	m.refused, m.w, m.lost = why, nil, nil
	metrics.setReport(why)
	m.rejoinLater()
}

// rejoinLater sets when to try joining again: twice the last wait, within
// rejoinMin and rejoinMax.
func (m *member) rejoinLater() {
	m.rejoinIn = min(max(m.rejoinIn*2, rejoinMin), rejoinMax)
	m.rejoinAt = time.Now().Add(m.rejoinIn)
}

// rejoin tries to join the fleet again once its time has come, while the
// daemon could not; it returns when to look again (zero: joined, or no
// need).
func (l *watchLoop) rejoin() time.Time {
	d := l.d
	m := d.fleet
	if m == nil || m.refused == "" || m.w != nil {
		return time.Time{}
	}
	if time.Now().Before(m.rejoinAt) {
		return m.rejoinAt
	}
	if err := m.join(l.s.Context(), l.cli, d.o.Metrics, d.log); err != nil {
		d.log.Debug("cannot join the fleet yet", "error", err.Error())
		m.rejoinLater()
	}
	if m.w == nil {
		return m.rejoinAt
	}
	return time.Time{}
}

// leave revokes the lease when the daemon stops: its status and claim
// disappear at once instead of after the TTL.
func (m *member) leave(cli *etcd.Client) {
	if m.prevLease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cli.RevokeLease(ctx, m.prevLease)
	m.prevLease = 0
}

// readControl updates the hold and the duplicates from the snapshot, and
// whether a report is due; it returns what changed, for the log.
func (m *member) readControl(s *snapshot.Snapshot) (holdChanged bool, newDuplicates []fleet.Claim) {
	var hold *fleet.Hold
	if v, ok, _ := s.Get(m.o.Keys.Hold()); ok {
		h := fleet.DecodeHold([]byte(v))
		hold = &h
	}
	if (hold == nil) != (m.hold == nil) || (hold != nil && *hold != *m.hold) {
		holdChanged = true
		m.want = true
	}
	m.hold = hold

	kvs, _ := s.Select(snapshot.Selector{Key: strings.TrimSuffix(m.o.Keys.Claims(m.o.Name), "/"), Recursive: true})
	var dups []fleet.Claim
	owner := true
	for _, kv := range kvs {
		var c fleet.Claim
		if json.Unmarshal([]byte(kv.Value), &c) != nil || c.Instance == m.claim.Instance {
			continue
		}
		if c.Hostname == m.claim.Hostname && c.PID != m.claim.PID && !alive(c.PID) {
			// A daemon of this host that was killed: its lease expires
			// soon; it is no duplicate.
			continue
		}
		dups = append(dups, c)
		if c.Started.Before(m.claim.Started) || (c.Started.Equal(m.claim.Started) && c.Instance < m.claim.Instance) {
			owner = false
		}
	}
	for _, c := range dups {
		if !slices.Contains(m.duplicates, c) {
			newDuplicates = append(newDuplicates, c)
		}
	}
	if len(dups) != len(m.duplicates) || len(newDuplicates) > 0 {
		m.want = true
	}
	m.duplicates, m.owner = dups, owner
	return holdChanged, newDuplicates
}

// alive reports whether a process of this host is running.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// held is the reason of the hold in force ("" when none).
func (m *member) held() string {
	if m == nil || m.hold == nil {
		return ""
	}
	return m.hold.Describe()
}

// record keeps each binding's outcome of a cycle at revision rev, and
// whether a report is due: a target changed, or an outcome did.
func (m *member) record(res *apply.Result, rev int64, set *bindings.Set) {
	m.cycled = time.Now()
	for id := range m.outcomes {
		if set.Get(id) == nil {
			delete(m.outcomes, id)
			m.want = true
		}
	}
	for _, out := range res.Outcomes {
		b := fleet.Binding{ID: out.ID, Target: out.Target, Revision: rev, Outcome: fleet.OK}
		if !out.Sensitive() {
			b.SHA256 = out.TargetHash()
		}
		switch {
		case out.Failed():
			b.Outcome = fleet.Failed
			if out.Err != nil {
				b.Error = out.Err.Error()
			} else {
				b.Error = out.Reason()
			}
		case out.Action == plan.Skip:
			b.Outcome, b.Reason = fleet.Skipped, string(out.Skipped())
		}
		prev, known := m.outcomes[out.ID]
		if !known || out.Changed || prev.Outcome != b.Outcome || prev.Error != b.Error || prev.Reason != b.Reason {
			m.want = true
		}
		m.outcomes[out.ID] = b
	}
}

// status is the report of the host now.
func (m *member) status(at int64, healthy bool, problem string) *fleet.Status {
	if at > m.at {
		m.at, m.atTime = at, time.Now().UTC()
	}
	s := &fleet.Status{Name: m.o.Name, Group: m.o.Group, Reconfig: m.o.Version, Claim: m.claim,
		At: m.at, AtTime: m.atTime, Healthy: healthy, Problem: problem, Held: m.held(),
		Duplicates: m.duplicates}
	for _, id := range slices.Sorted(maps.Keys(m.outcomes)) {
		s.Bindings = append(s.Bindings, m.outcomes[id])
	}
	return s
}

// judged is what a reader of the status would judge it by: a report that
// differs from the last one only in when it was made is not written.
func judged(s *fleet.Status) string {
	c := *s
	c.AtTime, c.Reported = time.Time{}, time.Time{}
	data, _ := json.Marshal(&c)
	return string(data)
}

// reportWriter writes a host's status and its brief on its lease, in one
// transaction, one write at a time and at most one per minReportGap; a
// report made meanwhile replaces the one waiting, so a burst of changes
// costs at most two writes a second.
type reportWriter struct {
	cli            *etcd.Client
	lease          etcd.Lease
	key, memberKey string
	metrics        *Metrics
	log            interface {
		Error(string, ...any)
		Info(string, ...any)
	}

	mu      sync.Mutex
	pending *report
	kick    chan struct{}
}

// report is a status and its brief, encoded.
type report struct{ status, brief []byte }

func newReportWriter(cli *etcd.Client, lease etcd.Lease, key, memberKey string, metrics *Metrics, log *slog.Logger) *reportWriter {
	return &reportWriter{cli: cli, lease: lease, key: key, memberKey: memberKey, metrics: metrics, log: log, kick: make(chan struct{}, 1)}
}

// offer hands over a report to write; it replaces one not yet written.
func (w *reportWriter) offer(doc *report) {
	w.mu.Lock()
	w.pending = doc
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *reportWriter) run(ctx context.Context) {
	var last time.Time
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		if wait := minReportGap - time.Since(last); wait > 0 && !sleep(ctx, wait) {
			return
		}
		w.mu.Lock()
		doc := w.pending
		w.pending = nil
		w.mu.Unlock()
		if doc == nil {
			continue
		}
		last = time.Now()
		_, err := w.cli.PutAllOnLease(ctx, w.lease, snapshot.KV{Key: w.key, Value: string(doc.status)},
			snapshot.KV{Key: w.memberKey, Value: string(doc.brief)})
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				w.log.Error("cannot write the fleet status; the next report tries again", "key", w.key, "error", err.Error())
			}
			failing = true
			// The fleet sees the last report written, which the lease
			// keeps alive: health is where this shows.
			w.metrics.setReport("cannot write the fleet status to " + w.key + ": " + err.Error())
			// Keep the report unless a newer one came meanwhile.
			w.mu.Lock()
			if w.pending == nil {
				w.pending = doc
			}
			w.mu.Unlock()
			select {
			case w.kick <- struct{}{}:
			default:
			}
		case err == nil:
			if failing {
				w.log.Info("the fleet status is written again", "key", w.key)
			}
			failing = false
			w.metrics.setReport("")
			w.metrics.statusWritten()
		}
	}
}

// readFleet takes the hold and the claims from the snapshot, and logs
// what changed.
func (d *daemon) readFleet() {
	m := d.fleet
	if m == nil {
		return
	}
	wasHeld := m.held()
	holdChanged, dups := m.readControl(d.snap)
	if holdChanged {
		if h := m.hold; h != nil {
			d.log.Warn("the fleet is held: nothing new is applied until it is released", "reason", h.Reason, "by", h.User, "host", h.Host)
		} else if wasHeld != "" {
			d.log.Info("the fleet is released: applying the latest")
		}
	}
	for _, c := range dups {
		d.log.Error("another daemon reports under this name; give each daemon its own --name", "name", m.o.Name, "other", c.String())
	}
	if m.gate != nil {
		m.gate.observe(m.o.Keys, d.snap, time.Now())
	}
	d.updateHeld()
	why := ""
	if len(m.duplicates) > 0 {
		var others []string
		for _, c := range m.duplicates {
			others = append(others, c.String())
		}
		why = fmt.Sprintf("duplicate name %s: also claimed by %s", m.o.Name, strings.Join(others, "; "))
	}
	d.o.Metrics.setDuplicate(why)
}

// atRevision is the revision the host is at: every change its bindings
// read up to it has been applied (or skipped or failed). It is what every
// watched span has seen, but below the oldest change still waiting for a
// cycle; while a full cycle waits (a new snapshot, held at start) it does
// not move.
func (d *daemon) atRevision() int64 {
	if d.full || d.snap == nil {
		return d.fleet.at
	}
	seen := int64(0)
	for _, sp := range d.snap.Spans {
		if sp.Denied {
			continue
		}
		rev := sp.Current()
		if rev == 0 {
			rev = d.snap.Revision
		}
		if seen == 0 || rev < seen {
			seen = rev
		}
	}
	if seen == 0 {
		seen = d.snap.Revision
	}
	if d.pendingFrom > 0 {
		seen = min(seen, d.pendingFrom-1)
	}
	return seen
}

// even reports whether every watched span has seen the newest revision
// the snapshot holds: then atRevision is as high as the stream can prove.
func (d *daemon) even() bool {
	for _, sp := range d.snap.Spans {
		if !sp.Denied && sp.Current() < d.snap.Revision {
			return false
		}
	}
	return true
}

// report hands the host's status to the writer when a report is due. A
// report waits, up to evenWait, for the stream to prove every span current
// (it asks etcd for progress), so that one write says where the host is.
// It returns when to look again (zero: nothing waits).
func (l *watchLoop) report() time.Time {
	d := l.d
	m := d.fleet
	if at := l.rejoin(); !at.IsZero() {
		return at
	}
	if m == nil || m.w == nil || d.snap == nil {
		return time.Time{}
	}
	healthy, problem := d.o.Metrics.Health()
	if healthy {
		problem = ""
	}
	// Health is reported when it changes, whatever changed it.
	if health := fmt.Sprint(healthy, problem); health != m.health {
		m.health, m.want = health, true
	}
	if !m.want {
		m.wanted = time.Time{}
		return time.Time{}
	}
	now := time.Now()
	if m.wanted.IsZero() {
		m.wanted = now
	}
	if due := d.next(); !due.IsZero() && due.Sub(now) < minReportGap && now.Sub(m.wanted) < maxReportDelay {
		// A cycle runs next: report after it, what it did too. A burst
		// of changes is reported once the daemon caught up with it.
		return time.Time{}
	}
	answer := m.barrier
	if !answer && m.wanted.Sub(m.offered) < burstWindow && now.Sub(m.cycled) < settle && now.Sub(m.wanted) < maxReportDelay {
		return m.cycled.Add(settle)
	}
	if !d.even() && l.ready != nil {
		if m.asked.IsZero() || now.Sub(m.asked) < evenWait {
			if m.asked.IsZero() {
				m.asked, m.askAt, m.asks = now, now, 0
			}
			if now.Before(m.askAt) {
				// Asked already: the loop comes here again for every
				// response, the answers too.
				return m.askAt
			}
			go func() {
				if err := l.cli.RequestProgress(l.s.Context()); err != nil {
					d.log.Debug("progress request failed", "error", err.Error())
				}
			}()
			// etcd drops a progress request while a watch catches up:
			// ask again, later each time (an etcd that is merely slow to
			// answer is not asked over and over).
			m.askAt = now.Add(askAgain << m.asks)
			m.asks++
			return m.askAt
		}
	}
	m.want, m.asked, m.barrier, m.wanted = false, time.Time{}, false, time.Time{}
	at := d.atRevision()
	var following *fleet.Following
	if m.following() {
		following, at = d.followStatus(at)
	}
	s := m.status(at, healthy, problem)
	if following != nil {
		s.Following = following
		if s.Held == "" && (following.Waiting > 0 || m.gate.applied == 0) {
			s.Held = following.Describe(s.At)
		}
	}
	key := judged(s)
	if (key == m.last && !answer) || !m.owner {
		m.last = key
		return time.Time{}
	}
	m.last = key
	s.Reported = time.Now().UTC()
	doc, err := s.Encode()
	if err != nil {
		d.log.Error("cannot encode the fleet status", "error", err.Error())
		return time.Time{}
	}
	brief, _ := json.Marshal(s.Brief())
	m.w.offer(&report{status: doc, brief: brief})
	m.offered = time.Now()
	return time.Time{}
}

// fleetLost closes when the fleet lease of the session is lost (nil
// without --fleet).
func (d *daemon) fleetLost() <-chan struct{} {
	if d.fleet == nil {
		return nil
	}
	return d.fleet.lost
}

// updateHeld tells health why no cycle may run: the fleet's hold, or a
// follower that has no gate to apply yet. Neither is a failure.
func (d *daemon) updateHeld() {
	m := d.fleet
	why := m.held()
	if why == "" && m.following() && m.gate.applied == 0 && m.gate.failed == "" {
		why = "following " + m.gate.o.Group + ": nothing to apply yet"
	}
	d.o.Metrics.setHeld(why)
}

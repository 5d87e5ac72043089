// Package fleet is what the daemons of a fleet and its operators tell each
// other through etcd: the keys under the fleet prefix, the status document
// each `watch --fleet` daemon keeps under its own lease, the hold, and how
// a reader judges a host from its status.
//
// Keys, all under the fleet prefix (itself under --prefix like every key):
//
//	hosts/NAME          a daemon's status (JSON, Status), on its lease
//	claims/NAME/ID      a daemon's claim on NAME (JSON, Claim), on its lease
//	control/hold        the hold (JSON, Hold); absent: not held
//	control/barrier     written by `fleet status` and `fleet wait`: every
//	                    daemon reports the revision it is at once it has
//	                    seen it
//	control/promote     written by `fleet promote` (JSON, Promote): followers
//	                    of a canary group may apply up to its revision
//	groups/GROUP/NAME   a short copy of each host's status (JSON, Brief),
//	                    written with it: followers of GROUP watch these,
//	                    not every host's status
//
// The package holds data and judgement only; reading and writing them is
// the daemon's (package watch) and the commands' (package command).
package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultPrefix is the fleet prefix when --fleet-prefix is not given.
const DefaultPrefix = "/reconfig"

// DefaultTTL is the lease of a daemon's status and claim: a host that dies
// disappears from the fleet within it. 20 s: long enough that an etcd
// leader election (about a second) or a daemon busy with a long cycle never
// drops a live host, short enough that a deploy pipeline's `fleet wait`
// stops counting a dead host well before its timeout; the etcd client
// renews it every TTL/3, about 7 s, which at 10,000 hosts is 1,500 small
// keepalives a second, spread evenly.
const DefaultTTL = 20 * time.Second

// SchemaVersion is the version of the Status document.
const SchemaVersion = 1

// MaxStatusBytes bounds a status document. Bindings are listed failed
// first, then skipped, then the rest, until the bound; the ones left out
// are counted in Omitted (Counts still counts every binding).
const MaxStatusBytes = 16 << 10

// maxErrorBytes bounds one binding's error (its first line, truncated).
const maxErrorBytes = 240

// maxDuplicates bounds the other daemons a status lists as claiming its
// name.
const maxDuplicates = 8

// Keys names the keys under one fleet prefix.
type Keys struct{ prefix string }

// NewKeys returns the keys under prefix ("" is DefaultPrefix).
func NewKeys(prefix string) Keys {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Keys{prefix: strings.TrimSuffix(prefix, "/")}
}

// Prefix is the fleet prefix, without a trailing slash.
func (k Keys) Prefix() string { return k.prefix }

// All is the range of every fleet key: the prefix and a slash.
func (k Keys) All() string { return k.prefix + "/" }

// Hosts is the prefix of every host's status.
func (k Keys) Hosts() string { return k.prefix + "/hosts/" }

// Host is the status key of the host name.
func (k Keys) Host(name string) string { return k.Hosts() + name }

// Claims is the prefix of the claims on name.
func (k Keys) Claims(name string) string { return k.prefix + "/claims/" + name + "/" }

// Claim is one daemon's claim on name.
func (k Keys) Claim(name, instance string) string { return k.Claims(name) + instance }

// Control is the prefix every --fleet daemon watches: hold and barrier.
func (k Keys) Control() string { return k.prefix + "/control/" }

// Hold is the key of the hold.
func (k Keys) Hold() string { return k.Control() + "hold" }

// Barrier is the key `fleet status` and `fleet wait` write.
func (k Keys) Barrier() string { return k.Control() + "barrier" }

// Promote is the key `fleet promote` writes.
func (k Keys) Promote() string { return k.Control() + "promote" }

// Group is the prefix of the briefs of a group's hosts.
func (k Keys) Group(group string) string { return k.prefix + "/groups/" + group + "/" }

// Member is the brief of host name in group.
func (k Keys) Member(group, name string) string { return k.Group(group) + name }

// NameOf returns the host name of a status key ("" when key is not one).
func (k Keys) NameOf(key string) string {
	name, ok := strings.CutPrefix(key, k.Hosts())
	if !ok || strings.Contains(name, "/") {
		return ""
	}
	return name
}

// CheckName reports why name cannot name a host or a group ("" for none).
func CheckName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("--%s is empty", what)
	case len(name) > 200:
		return fmt.Errorf("--%s %q: longer than 200 bytes", what, name)
	case strings.ContainsAny(name, "/\x00") || !utf8.ValidString(name):
		return fmt.Errorf("--%s %q: must be valid UTF-8 without a slash", what, name)
	}
	return nil
}

// Outcome of one binding in a status.
const (
	OK      = "ok"
	Skipped = "skipped"
	Failed  = "failed"
)

// Binding is one binding's last outcome on a host.
type Binding struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	// SHA256 is the hex SHA-256 of what the target holds ("" when it does
	// not exist, and for a sensitive binding: a hash of a short secret is
	// as good as the secret).
	SHA256  string `json:"sha256,omitempty"`
	Outcome string `json:"outcome"`
	// Reason says why it was skipped (a typed reason, like missing_key).
	Reason string `json:"reason,omitempty"`
	// Error is the first line of why it failed, truncated.
	Error string `json:"error,omitempty"`
	// Revision is the revision the outcome was reached at.
	Revision int64 `json:"revision"`
}

// Counts counts a host's bindings by outcome.
type Counts struct {
	OK      int `json:"ok"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// Claim is a daemon's claim on a name: who it is.
type Claim struct {
	Instance string    `json:"instance"`
	Hostname string    `json:"hostname"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
}

func (c Claim) String() string {
	return fmt.Sprintf("pid %d on %s, started %s", c.PID, c.Hostname, c.Started.UTC().Format(time.RFC3339))
}

// Status is what a --fleet daemon reports about itself.
type Status struct {
	Version  int    `json:"version"`
	Name     string `json:"name"`
	Group    string `json:"group"`
	Reconfig string `json:"reconfig"`
	Claim
	// At is the revision the host is at: every change its bindings read,
	// up to At, has been applied, skipped or failed, and is reported here.
	At int64 `json:"at"`
	// AtTime is when the host reached At.
	AtTime time.Time `json:"at_time"`
	// Reported is when this status was written.
	Reported time.Time `json:"reported"`
	// Healthy is the daemon's /healthz; Problem says why not.
	Healthy bool   `json:"healthy"`
	Problem string `json:"problem,omitempty"`
	// Held is the reason of the hold the host obeys ("" when not held).
	Held     string    `json:"held,omitempty"`
	Counts   Counts    `json:"counts"`
	Bindings []Binding `json:"bindings"`
	// Omitted counts the bindings left out to keep the bound.
	Omitted int `json:"omitted,omitempty"`
	// Duplicates are the other daemons that claim this host's name.
	Duplicates []Claim `json:"duplicates,omitempty"`
	// Following is set on a follower of a canary group (watch --follow).
	Following *Following `json:"following,omitempty"`
}

// Following is where a follower of a canary group stands.
type Following struct {
	Group string `json:"group"`
	// Gate is the newest revision the followed group vouches for (or a
	// promotion allows); the follower renders from etcd's data at it.
	Gate int64 `json:"gate"`
	// Waiting is the newest change the follower has seen but not applied
	// (0: none).
	Waiting int64 `json:"waiting,omitempty"`
	// Reason says why the gate is where it is, when it holds a change
	// back: no live host in the group, a host of it failed, baking.
	Reason string `json:"reason,omitempty"`
	// Promoted is the promotion the gate follows, when it does.
	Promoted *Promote `json:"promoted,omitempty"`
}

// Describe is how a host reports that it follows: "following canary: at
// 812, waiting for 815 (canary web1 failed at 815: …)".
func (f *Following) Describe(at int64) string {
	text := fmt.Sprintf("following %s: at %d", f.Group, at)
	if f.Waiting > at {
		text += fmt.Sprintf(", waiting for %d", f.Waiting)
	}
	if f.Reason != "" {
		text += " (" + f.Reason + ")"
	}
	return text
}

// Promote lets the followers of canary groups apply up to Revision without
// the canaries: the operator's explicit override.
type Promote struct {
	Revision int64     `json:"revision"`
	User     string    `json:"user"`
	Host     string    `json:"host"`
	Since    time.Time `json:"since"`
}

// Brief is the part of a host's status its group's followers judge it by.
type Brief struct {
	At       int64     `json:"at"`
	Healthy  bool      `json:"healthy"`
	Failed   int       `json:"failed,omitempty"`
	Problem  string    `json:"problem,omitempty"`
	Reported time.Time `json:"reported"`
}

// Brief returns the status's brief: its first problem or failing binding
// cut short.
func (s *Status) Brief() Brief {
	b := Brief{At: s.At, Healthy: s.Healthy, Failed: s.Counts.Failed, Reported: s.Reported}
	for _, f := range s.Bindings {
		if f.Outcome == Failed {
			b.Failed = max(b.Failed, 1)
			b.Problem = FirstLine("binding "+f.ID+": "+f.Error, maxErrorBytes)
			break
		}
	}
	if b.Problem == "" && !s.Healthy {
		b.Problem = FirstLine(s.Problem, maxErrorBytes)
	}
	return b
}

// OK reports whether the host is healthy with no failing binding.
func (b Brief) OK() bool { return b.Healthy && b.Failed == 0 }

// Failing returns the failed bindings.
func (s *Status) Failing() []Binding {
	var out []Binding
	for _, b := range s.Bindings {
		if b.Outcome == Failed {
			out = append(out, b)
		}
	}
	return out
}

// Encode returns the status as JSON within MaxStatusBytes: errors are cut
// to their first line and maxErrorBytes, and bindings beyond the bound are
// left out (failed ones last) and counted in Omitted.
func (s *Status) Encode() ([]byte, error) {
	out := *s
	out.Version = SchemaVersion
	out.Counts = Counts{}
	list := make([]Binding, len(s.Bindings))
	for i, b := range s.Bindings {
		b.Error = FirstLine(b.Error, maxErrorBytes)
		switch b.Outcome {
		case OK:
			out.Counts.OK++
		case Skipped:
			out.Counts.Skipped++
		case Failed:
			out.Counts.Failed++
		}
		list[i] = b
	}
	rank := map[string]int{Failed: 0, Skipped: 1}
	slices.SortStableFunc(list, func(a, b Binding) int {
		ra, oka := rank[a.Outcome]
		rb, okb := rank[b.Outcome]
		if !oka {
			ra = 2
		}
		if !okb {
			rb = 2
		}
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(a.ID, b.ID)
	})
	// Every text a status carries is cut: a hold's reason or a gate's
	// (every failing canary) can be as long as anyone made it, and a
	// status over the bound is one the host cannot write at all.
	out.Problem = FirstLine(s.Problem, 4*maxErrorBytes)
	out.Held = FirstLine(s.Held, 4*maxErrorBytes)
	if s.Following != nil {
		f := *s.Following
		f.Reason = FirstLine(f.Reason, 4*maxErrorBytes)
		if f.Promoted != nil {
			p := *f.Promoted
			p.User, p.Host = FirstLine(p.User, maxErrorBytes), FirstLine(p.Host, maxErrorBytes)
			f.Promoted = &p
		}
		out.Following = &f
	}
	if len(out.Duplicates) > maxDuplicates {
		out.Duplicates = out.Duplicates[:maxDuplicates]
	}
	out.Bindings = list
	for {
		data, err := json.Marshal(&out)
		if err != nil || len(data) <= MaxStatusBytes {
			return data, err
		}
		if len(out.Bindings) == 0 {
			return nil, fmt.Errorf("status of %s: %d bytes without any binding, over the bound of %d", s.Name, len(data), MaxStatusBytes)
		}
		// Drop about as many bindings as the excess needs, at least one.
		per := len(data) / (len(out.Bindings) + 1)
		drop := max(1, (len(data)-MaxStatusBytes)/max(per, 1)+1)
		drop = min(drop, len(out.Bindings))
		out.Bindings = out.Bindings[:len(out.Bindings)-drop]
		out.Omitted = len(list) - len(out.Bindings)
	}
}

// DecodeStatus reads a status document.
func DecodeStatus(data []byte) (*Status, error) {
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.Version < 1 {
		return nil, fmt.Errorf("not a reconfig status document (no version)")
	}
	return &s, nil
}

// FirstLine returns the first non-empty line of s, cut to at most n bytes
// (on a rune boundary, with "…" when cut).
func FirstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Hold is the emergency brake: while the hold key exists, every --fleet
// daemon keeps its snapshot current but applies nothing new.
type Hold struct {
	Reason string    `json:"reason"`
	User   string    `json:"user"`
	Host   string    `json:"host"`
	Since  time.Time `json:"since"`
}

// DecodeHold reads a hold; a value that is not a hold document still
// holds, with the value as its reason: the brake never fails open.
func DecodeHold(data []byte) Hold {
	var h Hold
	if err := json.Unmarshal(data, &h); err != nil || h.Since.IsZero() {
		return Hold{Reason: FirstLine(string(data), maxErrorBytes)}
	}
	return h
}

// Describe is the hold as a host reports it.
func (h Hold) Describe() string {
	if h.Reason == "" {
		return "held"
	}
	return h.Reason
}

// Barrier is what `fleet status` and `fleet wait` write to the barrier
// key: a value unique to each write, so every write is a change.
type Barrier struct {
	By    string    `json:"by"`
	Since time.Time `json:"since"`
	Nonce string    `json:"nonce"`
}

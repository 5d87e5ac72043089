package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
)

// KVValues prints keys with their values as one JSON object in key order
// (kv get).
func (v *View) KVValues(kvs []snapshot.KV) error {
	return writeJSON(v.stdout, orderedObject(kvs))
}

// KVChildren prints the children of a "directory" key as a JSON array
// (kv get).
func (v *View) KVChildren(keys []string) error {
	return writeJSON(v.stdout, keys)
}

// KVSet says a key was set.
func (v *View) KVSet(key string, ttl, rev int64) {
	if ttl > 0 {
		fmt.Fprintf(v.stdout, "Set %s (expires in %ds) at revision %d.\n", key, ttl, rev)
		return
	}
	fmt.Fprintf(v.stdout, "Set %s at revision %d.\n", key, rev)
}

// KVHold logs the life of a key `kv set --keepalive` holds, on the
// daemon's log (--log-format, --debug).
type KVHold struct{ log *slog.Logger }

// NewKVHold returns the log of a held key.
func NewKVHold(log *slog.Logger) *KVHold { return &KVHold{log: log} }

// Event logs one event of the held key.
func (h *KVHold) Event(e etcd.HoldEvent) {
	lease := fmt.Sprintf("%x", int64(e.Lease))
	switch e.Kind {
	case etcd.HoldSet:
		h.log.Info("holding the key until stopped (SIGTERM or SIGINT deletes it)", "key", Printable(e.Key),
			"ttl", e.TTL.String(), "lease", lease, "revision", e.Revision)
	case etcd.HoldLost:
		h.log.Warn("lost the lease: the key is gone or goes within the TTL; re-creating it", "key", Printable(e.Key),
			"ttl", e.TTL.String(), "lease", lease)
	case etcd.HoldRetry:
		msg := "cannot re-create the key; retrying"
		if e.Lease == 0 {
			msg = "cannot set the key yet; retrying"
		}
		h.log.Warn(msg, "key", Printable(e.Key), "error", e.Err.Error(), "retry_in", e.Wait.String())
	case etcd.HoldRecreated:
		h.log.Info("re-created the key", "key", Printable(e.Key), "lease", lease, "revision", e.Revision,
			"after", e.Down.Round(time.Millisecond).String())
	case etcd.HoldDeleted:
		h.log.Warn("the key was deleted by someone else; setting it again", "key", Printable(e.Key), "lease", lease, "revision", e.Revision)
	case etcd.HoldReplaced:
		h.log.Warn("the key was replaced by someone else; it is theirs now, and set again only once deleted", "key", Printable(e.Key),
			"lease", lease, "revision", e.Revision)
	case etcd.HoldReleased:
		h.log.Info("revoked the lease: the key is deleted", "key", Printable(e.Key), "lease", lease)
	}
}

// Stopping logs the signal that stops the hold.
func (h *KVHold) Stopping(sig string) {
	h.log.Info("stopping: deleting the key", "signal", sig)
}

// KVDeleted says how many keys were deleted.
func (v *View) KVDeleted(n int64) {
	fmt.Fprintf(v.stdout, "Deleted %d key%s.\n", n, plural(int(n)))
}

// orderedObject is key/values as a JSON object in key order.
type orderedObject []snapshot.KV

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString("{")
	for i, kv := range o {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(jsonString(kv.Key))
		b.WriteString(":")
		b.Write(jsonString(kv.Value))
	}
	b.WriteString("}")
	return []byte(b.String()), nil
}

// jsonString is s as a JSON string that keeps &, < and > as they are:
// keys and values are shown, not embedded in HTML.
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// KVWatch shows the events of `kv watch` as they come.
type KVWatch interface {
	// Events shows one batch of events and flushes it.
	Events(evs []snapshot.Event)
}

// NewKVWatch returns the human view (a line per event: revision, PUT or
// DELETE, key, quoted value) or the JSON view (a JSON object per line).
func NewKVWatch(v *View, asJSON bool) KVWatch {
	if asJSON {
		return kvWatchJSON{v}
	}
	return kvWatchHuman{v}
}

type kvWatchHuman struct{ *View }

var _ KVWatch = kvWatchHuman{}

func (v kvWatchHuman) Events(evs []snapshot.Event) {
	for _, ev := range evs {
		if ev.Delete {
			fmt.Fprintf(v.stdout, "%d DELETE %s\n", ev.Revision, Printable(ev.Key))
		} else {
			fmt.Fprintf(v.stdout, "%d PUT %s %s\n", ev.Revision, Printable(ev.Key), strconv.Quote(ev.Value))
		}
	}
	flush(v.stdout)
}

type kvWatchJSON struct{ *View }

var _ KVWatch = kvWatchJSON{}

func (v kvWatchJSON) Events(evs []snapshot.Event) {
	for _, ev := range evs {
		typ := "PUT"
		if ev.Delete {
			typ = "DELETE"
		}
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		enc.Encode(map[string]any{"revision": ev.Revision, "type": typ, "key": ev.Key, "value": ev.Value})
		v.stdout.Write(line.Bytes())
	}
	flush(v.stdout)
}

// KVStatus shows `kv status`: every endpoint's status, then the members.
type KVStatus interface {
	Status(endpoints []etcd.MemberStatus, members []etcd.Member) error
}

// NewKVStatus returns the human or the JSON view of kv status.
func NewKVStatus(v *View, asJSON bool) KVStatus {
	if asJSON {
		return kvStatusJSON{v}
	}
	return kvStatusHuman{v}
}

type kvStatusHuman struct{ *View }

var _ KVStatus = kvStatusHuman{}

func (v kvStatusHuman) Status(endpoints []etcd.MemberStatus, members []etcd.Member) error {
	w := v.stdout
	for _, s := range endpoints {
		if s.Err != nil {
			fmt.Fprintf(w, "%s: %s\n", s.Endpoint, v.style.Err.Sprint(s.Err.Error()))
			continue
		}
		role := "follower"
		if s.IsLeader {
			role = "leader"
		}
		fmt.Fprintf(w, "%s: etcd %s, %s, member %s, raft term %d, revision %d, db size %s, cluster %s\n",
			s.Endpoint, s.Version, role, s.MemberID, s.RaftTerm, s.Revision, humanBytes(s.DBSize), s.ClusterID)
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  alarm: %s\n", e)
		}
	}
	fmt.Fprintf(w, "members:\n")
	for _, m := range members {
		fmt.Fprintf(w, "  %s  %s  peers %s  clients %s\n", m.ID, m.Name, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","))
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

type kvStatusJSON struct{ *View }

var _ KVStatus = kvStatusJSON{}

type jsonEndpointStatus struct {
	Endpoint  string   `json:"endpoint"`
	MemberID  string   `json:"member_id,omitempty"`
	Version   string   `json:"version,omitempty"`
	Leader    bool     `json:"leader"`
	RaftTerm  uint64   `json:"raft_term,omitempty"`
	Revision  int64    `json:"revision,omitempty"`
	DBSize    int64    `json:"db_size,omitempty"`
	ClusterID string   `json:"cluster_id,omitempty"`
	Errors    []string `json:"errors,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// jsonMember is a member in the words of jsonEndpointStatus: its id is an
// endpoint's member_id.
type jsonMember struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	Learner    bool     `json:"learner"`
}

func (v kvStatusJSON) Status(endpoints []etcd.MemberStatus, members []etcd.Member) error {
	var out struct {
		Endpoints []jsonEndpointStatus `json:"endpoints"`
		Members   []jsonMember         `json:"members"`
	}
	for _, s := range endpoints {
		j := jsonEndpointStatus{Endpoint: s.Endpoint, MemberID: s.MemberID, Version: s.Version, Leader: s.IsLeader, RaftTerm: s.RaftTerm,
			Revision: s.Revision, DBSize: s.DBSize, ClusterID: s.ClusterID, Errors: s.Errors}
		if s.Err != nil {
			j.Error = s.Err.Error()
		}
		out.Endpoints = append(out.Endpoints, j)
	}
	out.Members = []jsonMember{}
	for _, m := range members {
		out.Members = append(out.Members, jsonMember{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner})
	}
	return writeJSON(v.stdout, out)
}

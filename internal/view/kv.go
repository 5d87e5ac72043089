package view

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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
		k, _ := json.Marshal(kv.Key)
		v, _ := json.Marshal(kv.Value)
		b.Write(k)
		b.WriteString(":")
		b.Write(v)
	}
	b.WriteString("}")
	return []byte(b.String()), nil
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
		line, _ := json.Marshal(map[string]any{"revision": ev.Revision, "type": typ, "key": ev.Key, "value": ev.Value})
		fmt.Fprintf(v.stdout, "%s\n", line)
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

func (v kvStatusJSON) Status(endpoints []etcd.MemberStatus, members []etcd.Member) error {
	var out struct {
		Endpoints []jsonEndpointStatus `json:"endpoints"`
		Members   []etcd.Member        `json:"members"`
	}
	for _, s := range endpoints {
		j := jsonEndpointStatus{Endpoint: s.Endpoint, MemberID: s.MemberID, Version: s.Version, Leader: s.IsLeader, RaftTerm: s.RaftTerm,
			Revision: s.Revision, DBSize: s.DBSize, ClusterID: s.ClusterID, Errors: s.Errors}
		if s.Err != nil {
			j.Error = s.Err.Error()
		}
		out.Endpoints = append(out.Endpoints, j)
	}
	out.Members = members
	return writeJSON(v.stdout, out)
}

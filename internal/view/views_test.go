package view

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/state"
)

// The commands' views print these bytes (the CLI scripts under
// testdata/script check the same lines end to end).
func TestViews(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local)
	record := &state.Record{Target: "/etc/app.conf", SHA256: "abc", Revision: 7, AppliedAt: at, Check: "ok", Reload: "none"}
	secret := &state.Record{Target: "/etc/secret", Revision: 7, AppliedAt: at, Check: "ok", Reload: "ok", Sensitive: true}
	events := []snapshot.Event{{Revision: 5, Key: "/a", Value: "x\ny"}, {Revision: 6, Key: "/b\x1b[2J", Delete: true}}
	statuses := []etcd.MemberStatus{
		{Endpoint: "http://e1", MemberID: "m1", Version: "3.5.0", IsLeader: true, RaftTerm: 2, Revision: 9, DBSize: 3 << 20, ClusterID: "c1", Errors: []string{"NOSPACE"}},
		{Endpoint: "http://e2", Err: errors.New("status of http://e2: timeout")},
	}
	members := []etcd.Member{{ID: "m1", Name: "one", PeerURLs: []string{"http://p1"}, ClientURLs: []string{"http://e1", "http://e3"}}}
	for _, tc := range []struct {
		name  string
		color bool
		show  func(v *View) error
		want  string
	}{
		{name: "kv get value", show: func(v *View) error {
			return v.KVValues([]snapshot.KV{{Key: "/a&b", Value: "<x> & \"y\""}, {Key: "/b", Value: ""}})
		},
			// &, < and > as they are, not HTML-escaped.
			want: "{\n  \"/a&b\": \"<x> & \\\"y\\\"\",\n  \"/b\": \"\"\n}\n"},
		{name: "kv get children", show: func(v *View) error { return v.KVChildren([]string{"/a", "/b"}) },
			want: "[\n  \"/a\",\n  \"/b\"\n]\n"},
		{name: "kv set", show: func(v *View) error { v.KVSet("/k", 0, 4); return nil }, want: "Set /k at revision 4.\n"},
		{name: "kv set with a ttl", show: func(v *View) error { v.KVSet("/k", 30, 4); return nil }, want: "Set /k (expires in 30s) at revision 4.\n"},
		{name: "kv del one", show: func(v *View) error { v.KVDeleted(1); return nil }, want: "Deleted 1 key.\n"},
		{name: "kv del many", show: func(v *View) error { v.KVDeleted(3); return nil }, want: "Deleted 3 keys.\n"},
		{name: "kv watch", show: func(v *View) error { NewKVWatch(v, false).Events(events); return nil },
			want: "5 PUT /a \"x\\ny\"\n6 DELETE /b\\x1b[2J\n"},
		{name: "kv watch --json", show: func(v *View) error { NewKVWatch(v, true).Events(events); return nil },
			want: `{"key":"/a","revision":5,"type":"PUT","value":"x\ny"}` + "\n" + `{"key":"/b\u001b[2J","revision":6,"type":"DELETE","value":""}` + "\n"},
		{name: "kv watch --json keeps & < >", show: func(v *View) error {
			NewKVWatch(v, true).Events([]snapshot.Event{{Revision: 7, Key: "/a&b", Value: "<x>"}})
			return nil
		}, want: `{"key":"/a&b","revision":7,"type":"PUT","value":"<x>"}` + "\n"},
		{name: "kv status", show: func(v *View) error { return NewKVStatus(v, false).Status(statuses, members) },
			want: "http://e1: etcd 3.5.0, leader, member m1, raft term 2, revision 9, db size 3.0 MiB, cluster c1\n" +
				"  alarm: NOSPACE\n" +
				"http://e2: status of http://e2: timeout\n" +
				"members:\n" +
				"  m1  one  peers http://p1  clients http://e1,http://e3\n"},
		{name: "kv status colors a failed endpoint", color: true, show: func(v *View) error { return NewKVStatus(v, false).Status(statuses[1:], nil) },
			want: "http://e2: \x1b[31;1mstatus of http://e2: timeout\x1b[0;22m\nmembers:\n"},
		{name: "kv status --json", show: func(v *View) error { return NewKVStatus(v, true).Status(statuses, members) },
			want: `{
  "endpoints": [
    {
      "endpoint": "http://e1",
      "member_id": "m1",
      "version": "3.5.0",
      "leader": true,
      "raft_term": 2,
      "revision": 9,
      "db_size": 3145728,
      "cluster_id": "c1",
      "errors": [
        "NOSPACE"
      ]
    },
    {
      "endpoint": "http://e2",
      "leader": false,
      "error": "status of http://e2: timeout"
    }
  ],
  "members": [
    {
      "id": "m1",
      "name": "one",
      "peer_urls": [
        "http://p1"
      ],
      "client_urls": [
        "http://e1",
        "http://e3"
      ],
      "learner": false
    }
  ]
}
`},
		{name: "state show", show: func(v *View) error { return NewStateShow(v, false).Record("app", record) },
			want: "id:         app\ntarget:     /etc/app.conf\nsha256:     abc\nrevision:   7\napplied at: " + at.Format(time.RFC3339) + "\ncheck:      ok\nreload:     none\n"},
		{name: "state show of a sensitive binding", show: func(v *View) error { return NewStateShow(v, false).Record("db", secret) },
			want: "id:         db\ntarget:     /etc/secret\nsha256:     (not shown: the binding is sensitive)\nrevision:   7\napplied at: " + at.Format(time.RFC3339) + "\ncheck:      ok\nreload:     ok\n"},
		{name: "state show --json", show: func(v *View) error { return NewStateShow(v, true).Record("db", secret) },
			want: "{\n  \"id\": \"db\",\n  \"target\": \"/etc/secret\",\n  \"sha256\": \"\",\n  \"revision\": 7,\n  \"applied_at\": " + strings.TrimSuffix(mustJSON(t, at), "\n") + ",\n  \"check\": \"ok\",\n  \"reload\": \"ok\",\n  \"sensitive\": true\n}\n"},
		{name: "state list", show: func(v *View) error {
			v.StateList("/s.json", &state.State{Lineage: "l", Serial: 3, ClusterID: "c", Revision: 9,
				Bindings: map[string]*state.Record{"b": {Target: "/b", Revision: 9, AppliedAt: at, Error: "boom"}, "a": record},
				Orphans:  map[string]*state.Record{"/old": {Binding: "a", Target: "/old", Revision: 2, AppliedAt: at}}})
			return nil
		}, want: "State /s.json: lineage l, serial 3, etcd cluster c, revision 9\n" +
			"  a  /etc/app.conf  revision 7  " + at.Format(time.RFC3339) + "\n" +
			"  b  /b  revision 9  " + at.Format(time.RFC3339) + "  (last apply failed)\n" +
			"  (orphan of a)  /old  revision 2  " + at.Format(time.RFC3339) + "\n"},
		{name: "state unlock", show: func(v *View) error {
			v.Unlocked(&state.LockInfo{PID: 42, Operation: "apply", Since: at})
			v.NoLock("/s.json")
			return nil
		}, want: "Removed the stale lock of pid 42 (apply, since " + at.Format(time.RFC3339) + ").\nNo lock held on /s.json.\n"},
		{name: "validate", show: func(v *View) error {
			v.Validated("cfg", []*bindings.Binding{{ID: "a", Key: "/k", Target: "/t"}})
			v.Validated("cfg", nil)
			return nil
		}, want: "  a  /k → /t\n1 binding valid.\nNo bindings in cfg/conf.d.\n"},
		{name: "snapshot save", show: func(v *View) error {
			snap := &snapshot.Snapshot{Revision: 8}
			v.SnapshotSaved("s.json", snap, nil)
			snap.Omit([]snapshot.Range{{Start: "/secret/", End: "/secret0"}})
			v.SnapshotSaved("s.json", snap, []string{"db", "tls"})
			return nil
		}, want: "Saved 0 keys at etcd revision 8 to s.json.\nSaved 0 keys at etcd revision 8 to s.json.\n" +
			"Left out the values only sensitive bindings read (db, tls): plan --snapshot does not render them; --include-sensitive keeps them.\n"},
		{name: "snapshot save of one key", show: func(v *View) error {
			snap := &snapshot.Snapshot{Spans: []snapshot.Span{{Start: "/", End: "0"}}}
			snap.Apply([]snapshot.Event{{Revision: 3, Key: "/a", Value: "1"}})
			v.SnapshotSaved("s.json", snap, nil)
			return nil
		}, want: "Saved 1 key at etcd revision 3 to s.json.\n"},
		{name: "version", show: func(v *View) error {
			v.Version(VersionInfo{Version: "1.2.3", Commit: "abc", Go: "go1.26.0", Platform: "linux/amd64", EtcdClient: "v3.6.0"})
			return nil
		}, want: "reconfig 1.2.3\ncommit: abc\ngo: go1.26.0 linux/amd64\netcd client: v3.6.0\n"},
		{name: "dev with the demo", show: func(v *View) error {
			v.DevStarted(DevSession{Endpoint: "http://127.0.0.1:1", Keys: 3, DataDir: "/tmp/d/etcd", Dir: "/tmp/d", CfgDir: "/tmp/d/cfg", StatePath: "/tmp/d/state.json", Demo: true})
			return nil
		}, want: "reconfig dev: etcd is listening on http://127.0.0.1:1 with 3 keys (data dir /tmp/d/etcd, removed on exit).\n" +
			"Bindings: /tmp/d/cfg/conf.d (the demo; targets under /tmp/d/out)\n" +
			"the state is /tmp/d/state.json, not the real one.\n" +
			"In another terminal, change a key and watch the target follow:\n" +
			"    reconfig --endpoints http://127.0.0.1:1 kv set /services/web/web-3 10.0.0.13:8080\n" +
			"    reconfig --endpoints http://127.0.0.1:1 kv del /services/web/web-1\n" +
			"    cat /tmp/d/out/haproxy/haproxy.cfg\n" +
			"Ctrl-C stops both.\n\n"},
		{name: "dev with the operator's bindings", show: func(v *View) error {
			v.DevStarted(DevSession{Endpoint: "http://127.0.0.1:1", Keys: 1, DataDir: "/d/etcd", Kept: true, Dir: "/d", CfgDir: "cfg", StatePath: "/d/state.json", Targets: "/d/targets"})
			return nil
		}, want: "reconfig dev: etcd is listening on http://127.0.0.1:1 with 1 keys (data dir /d/etcd, kept).\n" +
			"Bindings: cfg/conf.d\n" +
			"Nothing real is touched: each target is written under /d/targets/ (its own path below that), not where the binding says;\n" +
			"check and reload commands are shown, not run (--run-commands runs them);\n" +
			"the state is /d/state.json, not the real one.\n" +
			"In another terminal, change a key and watch the target follow:\n" +
			"    reconfig --endpoints http://127.0.0.1:1 kv set /services/web/web-3 10.0.0.13:8080\n" +
			"    reconfig --endpoints http://127.0.0.1:1 kv del /services/web/web-1\n" +
			"Ctrl-C stops both.\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			if err := tc.show(New(&out, &errs, NewStyle(tc.color))); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tc.want {
				t.Errorf("stdout\n%q\nwant\n%q", got, tc.want)
			}
			if errs.Len() > 0 {
				t.Errorf("stderr %q, want nothing", errs.String())
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Errors and warnings go to stderr, in color when the style has it.
func TestViewErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		color bool
		show  func(v *View)
		want  string
	}{
		{name: "error", show: func(v *View) { v.Error(errors.New("no such \x1b[2Jfile")) }, want: "reconfig: error: no such \\x1b[2Jfile\n"},
		{name: "error in color", color: true, show: func(v *View) { v.Error(errors.New("boom")) }, want: "\x1b[31;1mreconfig: error:\x1b[0;22m boom\n"},
		{name: "several errors", show: func(v *View) { v.Error(errors.Join(errors.New("a"), errors.New("b"))) }, want: "reconfig: error: 2 problems:\n  a\n  b\n"},
		{name: "warning", show: func(v *View) { v.Warning("careful") }, want: "reconfig: warning: careful\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			tc.show(New(&out, &errs, NewStyle(tc.color)))
			if got := errs.String(); got != tc.want {
				t.Errorf("stderr %q, want %q", got, tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

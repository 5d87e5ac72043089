package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/snapshot"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// hostStatus is the JSON status of host name in group at revision at;
// opts change it first.
func hostStatus(t *testing.T, name, group string, at int64, opts ...func(*fleet.Status)) string {
	t.Helper()
	now := time.Now().UTC()
	s := &fleet.Status{Name: name, Group: group, Reconfig: "test", At: at, AtTime: now, Reported: now, Healthy: true,
		Claim:    fleet.Claim{Instance: name + "-1", Hostname: name, PID: 100, Started: now.Add(-time.Minute)},
		Bindings: []fleet.Binding{{ID: "app", Target: "/etc/app.conf", Outcome: fleet.OK, Revision: at}}}
	for _, o := range opts {
		o(s)
	}
	data, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func failingBinding(id, err string) func(*fleet.Status) {
	return func(s *fleet.Status) {
		s.Bindings = append(s.Bindings, fleet.Binding{ID: id, Target: "/etc/" + id + ".conf", Outcome: fleet.Failed, Error: err, Revision: s.At})
	}
}

func heldBy(reason string) func(*fleet.Status) { return func(s *fleet.Status) { s.Held = reason } }

func put(t *testing.T, srv *embedded.Server, key, value string) int64 {
	t.Helper()
	rev, err := srv.Put(context.Background(), key, value)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return rev
}

// answerBarriers plays the --fleet daemons' part: every barrier written
// under keys (with the etcd prefix prefix) from now on is passed to
// answer with its revision, in order, until the test ends. answer writes
// the statuses the daemons would.
func answerBarriers(t *testing.T, srv *embedded.Server, prefix string, keys fleet.Keys, answer func(b int64)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cli, err := etcd.Connect(ctx, etcd.Config{Endpoints: []string{srv.ClientURL}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := srv.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream := cli.Watch(ctx, []snapshot.Span{{Start: keys.Barrier(), End: keys.Barrier() + "\x00", Rev: rev + 1}}, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range stream.All() {
			for _, ev := range b.Events {
				if !ev.Delete {
					answer(ev.Revision)
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cli.Close()
	})
}

func TestFleetWait(t *testing.T) {
	keys := fleet.NewKeys("")
	for _, tc := range []struct {
		name string
		args []string
		// before writes the fleet as it is before the wait; answer what
		// the daemons write when the wait's barrier (at revision b) comes.
		before func(t *testing.T, srv *embedded.Server)
		answer func(t *testing.T, srv *embedded.Server, b int64)
		code   int
		stdout []string
	}{
		{
			name: "every host answers",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
				put(t, srv, keys.Host("b"), hostStatus(t, "b", "web", 2))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b))
				put(t, srv, keys.Host("b"), hostStatus(t, "b", "web", b))
			},
			code: 0, stdout: []string{"Converged: 2 hosts at revision"},
		},
		{
			name: "a host fails at the revision",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
				put(t, srv, keys.Host("b"), hostStatus(t, "b", "web", 2))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b, failingBinding("nginx", "check failed: exit status 1\nnginx: [emerg]")))
			},
			args: []string{"--timeout", "1m"},
			code: 1, stdout: []string{"Failed: host a at revision", "binding nginx (/etc/nginx.conf): check failed: exit status 1 …"},
		},
		{
			name: "timeout names the laggard",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
				put(t, srv, keys.Host("slow"), hostStatus(t, "slow", "web", 3))
				put(t, srv, keys.Host("frozen"), hostStatus(t, "frozen", "web", 3, heldBy("INC-1")))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b))
			},
			args: []string{"--timeout", "500ms"},
			code: 2, stdout: []string{"Timed out after", "1 of 3 hosts at revision", "slow at revision 3, ", "frozen at revision 3, ", "held: INC-1"},
		},
		{
			name: "fewer hosts than --min-hosts",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b))
			},
			args: []string{"--timeout", "500ms", "--min-hosts", "2"},
			code: 2, stdout: []string{"1 of 1 host at revision", "only 1 live host, fewer than --min-hosts 2"},
		},
		{
			name: "a host that appears during the wait counts",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b))
				put(t, srv, keys.Host("new"), hostStatus(t, "new", "web", b))
			},
			args: []string{"--min-hosts", "2"},
			code: 0, stdout: []string{"Converged: 2 hosts at revision"},
		},
		{
			name: "a host whose status is deleted stops counting",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
				put(t, srv, keys.Host("dead"), hostStatus(t, "dead", "web", 2))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b))
				if _, err := srv.Delete(context.Background(), keys.Host("dead"), false); err != nil {
					t.Error(err)
				}
			},
			code: 0, stdout: []string{"Converged: 1 host at revision"},
		},
		{
			name: "another group's laggard does not count",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
				put(t, srv, keys.Host("db"), hostStatus(t, "db", "db", 2, failingBinding("pg", "down")))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b))
			},
			args: []string{"--group", "web"},
			code: 0, stdout: []string{"Converged: 1 host in group web at revision"},
		},
		{
			name: "a failure below the revision does not end the wait",
			before: func(t *testing.T, srv *embedded.Server) {
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 1, failingBinding("app", "old failure")))
			},
			answer: func(t *testing.T, srv *embedded.Server, b int64) {
				// The wait is for etcd's revision when it started, b-1 (the
				// barrier is the next write): a failure at b-2 is below it,
				// whether or not the next put comes in the same response.
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b-2, failingBinding("app", "old failure")))
				put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b+1))
			},
			code: 0, stdout: []string{"Converged: 1 host at revision"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := etcdtest.Start(t)
			tc.before(t, srv)
			answerBarriers(t, srv, "", keys, func(b int64) { tc.answer(t, srv, b) })
			args := append([]string{"--endpoints", srv.ClientURL, "--no-color", "fleet", "wait"}, tc.args...)
			code, stdout, stderr := reconfig(context.Background(), args...)
			if code != tc.code || stderr != "" {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout has no %q:\n%s", want, stdout)
				}
			}
		})
	}
}

// --revision waits for a revision etcd has not reached yet; --json says
// how the wait ended in one document.
func TestFleetWaitRevisionJSON(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := fleet.NewKeys("/ops")
	put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
	now, err := srv.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	target := now + 5
	answerBarriers(t, srv, "", keys, func(b int64) {
		// The daemon answers the barrier below the target; then the
		// change the pipeline waits for comes, and the host applies it.
		put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", b))
		for rev := b; rev < target; {
			rev = put(t, srv, "/app/x", "1")
		}
		put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", target))
	})
	code, stdout, stderr := reconfig(context.Background(), "--endpoints", srv.ClientURL, "fleet", "wait", "--fleet-prefix", "/ops",
		"--revision", strconv.FormatInt(target, 10), "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var doc struct {
		Outcome  string  `json:"outcome"`
		Revision int64   `json:"revision"`
		Live     int     `json:"live"`
		At       int     `json:"at"`
		Elapsed  float64 `json:"elapsed_seconds"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if doc.Outcome != "converged" || doc.Revision != target || doc.Live != 1 || doc.At != 1 || doc.Elapsed <= 0 {
		t.Fatalf("document %+v, want converged at %d with 1 of 1 host\n%s", doc, target, stdout)
	}
}

func TestFleetStatus(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := fleet.NewKeys("")
	put(t, srv, keys.Host("web-1"), hostStatus(t, "web-1", "web", 2))
	put(t, srv, keys.Host("web-2"), hostStatus(t, "web-2", "web", 2))
	put(t, srv, keys.Host("web-3"), hostStatus(t, "web-3", "web", 2))
	put(t, srv, keys.Host("lb-1"), hostStatus(t, "lb-1", "lb", 2))
	put(t, srv, keys.Host("db-1"), hostStatus(t, "db-1", "db", 2))
	put(t, srv, keys.Claim("web-2", "a"), `{"instance":"a","hostname":"box-a","pid":11,"started":"2025-01-01T00:00:00Z"}`)
	put(t, srv, keys.Claim("web-2", "b"), `{"instance":"b","hostname":"box-b","pid":12,"started":"2025-01-02T00:00:00Z"}`)
	// web-3 never answers (a daemon stuck in a long cycle); lb-1 is held
	// with a change it has not applied; db-1 fails its check.
	answerBarriers(t, srv, "", keys, func(b int64) {
		put(t, srv, keys.Host("web-1"), hostStatus(t, "web-1", "web", b))
		put(t, srv, keys.Host("web-2"), hostStatus(t, "web-2", "web", b))
		put(t, srv, keys.Host("lb-1"), hostStatus(t, "lb-1", "lb", 2, heldBy("INC-7")))
		put(t, srv, keys.Host("db-1"), hostStatus(t, "db-1", "db", b, failingBinding("pg", "check failed: exit status 3")))
	})
	ep := []string{"--endpoints", srv.ClientURL, "--no-color"}
	run := func(args ...string) (int, string, string) {
		return reconfig(context.Background(), append(append(ep, "fleet", "status", "--settle", "500ms"), args...)...)
	}

	code, stdout, stderr := run("--detailed-exitcode")
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, want 1 (a host failed)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`Fleet: 5 hosts, 2 at revision (\d+), 1 behind, 1 failed, 1 held\.`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line:\n%s", stdout)
	}
	b := m[1]
	lines := strings.Split(stdout, "\n")
	for i, want := range []string{
		`^HOST +GROUP +REVISION +LAG +STATE +REPORTED$`,
		`^db-1 +db +` + b + ` +0 +failed +\d+s ago$`,
		`^  failed: pg \(/etc/pg.conf\): check failed: exit status 3$`,
		`^lb-1 +lb +2 +\d+ +held +\d+s ago$`,
		`^  held: INC-7$`,
		`^web-1 +web +` + b + ` +0 +ok +\d+s ago$`,
		`^web-2 +web +` + b + ` +0 +ok +\d+s ago$`,
		`^  duplicate: 2 daemons claim this name:$`,
		`^    pid 11 on box-a, started 2025-01-01T00:00:00Z$`,
		`^    pid 12 on box-b, started 2025-01-02T00:00:00Z$`,
		`^web-3 +web +2 +\d+ +behind +\d+s ago$`,
	} {
		if i >= len(lines) || !regexp.MustCompile(want).MatchString(lines[i]) {
			t.Fatalf("line %d does not match %s:\n%s", i+1, want, stdout)
		}
	}

	code, stdout, stderr = run("--group", "web", "--detailed-exitcode")
	if code != 2 || stderr != "" || !strings.Contains(stdout, "Fleet: 3 hosts, 2 at revision") || strings.Contains(stdout, "db-1") {
		t.Fatalf("group web: exit %d, want 2 (a host behind), three hosts\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run("--group", "lb", "--detailed-exitcode")
	if code != 2 || !strings.Contains(stdout, "Fleet: 1 host, 0 at revision") {
		t.Fatalf("group lb: exit %d, want 2 (held)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run("--group", "lb")
	if code != 0 {
		t.Fatalf("without --detailed-exitcode: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// Every host answers: no wait for --settle, and exit 0.
	if _, err := srv.Delete(context.Background(), keys.Host("web-3"), false); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run("--group", "web", "--detailed-exitcode", "--settle", "1h")
	if code != 0 || !strings.Contains(stdout, "Fleet: 2 hosts, 2 at revision") {
		t.Fatalf("every host at the barrier: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = run("--json", "--detailed-exitcode")
	if code != 1 || stderr != "" {
		t.Fatalf("--json: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rep fleet.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if !rep.Barrier || rep.Summary != (fleet.Summary{Hosts: 4, OK: 2, Failed: 1, Held: 1}) || rep.Hosts[0].Name != "db-1" || rep.Hosts[0].Failing[0].ID != "pg" {
		t.Fatalf("--json: %+v\n%s", rep, stdout)
	}
}

// The hold outlives the command, says who set it, shows in fleet status,
// and release takes it back; a role that may only read gets a clear
// error from hold, and fleet status judges against the revision it read.
func TestFleetHold(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := fleet.NewKeys("")
	ctx := context.Background()
	put(t, srv, keys.Host("a"), hostStatus(t, "a", "web", 2))
	ep := []string{"--endpoints", srv.ClientURL, "--no-color"}

	code, stdout, stderr := reconfig(ctx, append(ep, "fleet", "release")...)
	if code != 0 || !strings.Contains(stdout, "was not held: nothing to release") {
		t.Fatalf("release unheld: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = reconfig(ctx, append(ep, "fleet", "hold", "--reason", "INC-9: bad list")...)
	if code != 0 || stderr != "" || !strings.Contains(stdout, "Held the fleet under /reconfig: INC-9: bad list.") {
		t.Fatalf("hold: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, _ = reconfig(ctx, append(ep, "kv", "get", keys.Hold())...)
	var kv map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &kv) != nil {
		t.Fatalf("kv get the hold: exit %d\n%s", code, stdout)
	}
	h := fleet.DecodeHold([]byte(kv[keys.Hold()]))
	if h.Reason != "INC-9: bad list" || h.User == "" || h.Host == "" || time.Since(h.Since) > time.Minute {
		t.Fatalf("hold %+v, want the reason, user, host and since", h)
	}
	code, stdout, _ = reconfig(ctx, append(ep, "fleet", "status", "--settle", "0")...)
	if code != 0 || !regexp.MustCompile(`(?m)^Held since \S+ by \S+ on \S+: INC-9: bad list\. Release with`).MatchString(stdout) {
		t.Fatalf("status while held: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = reconfig(ctx, append(ep, "fleet", "release")...)
	if code != 0 || !strings.Contains(stdout, "Released the fleet under /reconfig, held since") || !strings.Contains(stdout, "(INC-9: bad list)") {
		t.Fatalf("release: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := reconfig(ctx, append(ep, "kv", "get", keys.Hold())...); code != 1 || !strings.Contains(stderr, "key not found") {
		t.Fatalf("the hold is still there after release: exit %d, %s", code, stderr)
	}

	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/reconfig/"})
	t.Setenv("RECONFIG_PASSWORD", "readpw")
	ro := append(ep, "--user", "reader")
	for _, cmd := range []string{"hold", "release"} {
		code, stdout, stderr = reconfig(ctx, append(ro, "fleet", cmd)...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "reconfig: error: ") || !strings.Contains(stderr, "permission denied for user reader") ||
			!strings.Contains(stderr, "hint: the hold needs read and write access to /reconfig/control/hold") {
			t.Fatalf("%s as a reader: exit %d\nstdout:\n%s\nstderr:\n%s", cmd, code, stdout, stderr)
		}
	}
	code, stdout, stderr = reconfig(ctx, append(ro, "fleet", "status", "--detailed-exitcode")...)
	if code != 2 || !strings.Contains(stderr, "reconfig: warning: could not write the barrier (set /reconfig/control/barrier: permission denied for user reader)") ||
		!regexp.MustCompile(`Fleet: 1 host, 0 at revision \d+, 1 behind, 0 failed\.`).MatchString(stdout) {
		t.Fatalf("status as a reader: exit %d, want 2 with the barrier's warning\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// Under --prefix, the fleet's keys are under it like every key.
func TestFleetPrefix(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := fleet.NewKeys("")
	put(t, srv, "/team"+keys.Host("a"), hostStatus(t, "a", "web", 2))
	put(t, srv, keys.Host("elsewhere"), hostStatus(t, "elsewhere", "web", 2))
	answerBarriers(t, srv, "/team", keys, func(b int64) {
		put(t, srv, "/team"+keys.Host("a"), hostStatus(t, "a", "web", b))
	})
	code, stdout, stderr := reconfig(context.Background(), "--endpoints", srv.ClientURL, "--no-color", "--prefix", "/team", "fleet", "wait", "--timeout", "1m")
	if code != 0 || !strings.Contains(stdout, "Converged: 1 host at revision") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	team := []string{"--endpoints", srv.ClientURL, "--no-color", "--prefix", "/team"}
	if code, stdout, stderr := reconfig(context.Background(), append(team, "fleet", "hold")...); code != 0 {
		t.Fatalf("hold: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := reconfig(context.Background(), append(team, "kv", "get", keys.Hold())...); code != 0 {
		t.Fatalf("no hold under /team: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ := reconfig(context.Background(), "--endpoints", srv.ClientURL, "kv", "get", keys.Hold()); code != 1 {
		t.Fatalf("a hold outside /team: exit %d\n%s", code, stdout)
	}
}

// An interrupted wait says where the fleet stands and fails: it did not
// see the fleet converge.
func TestFleetWaitInterrupted(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := fleet.NewKeys("")
	put(t, srv, keys.Host("slow"), hostStatus(t, "slow", "web", 2))
	put(t, srv, "/app/x", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answerBarriers(t, srv, "", keys, func(int64) { cancel() })
	code, stdout, stderr := reconfig(ctx, "--endpoints", srv.ClientURL, "--no-color", "fleet", "wait", "--timeout", "1h")
	if code != 1 || !strings.Contains(stdout, "Stopped after ") || !strings.Contains(stdout, "  slow at revision 2, ") {
		t.Fatalf("exit %d, want 1 and where the fleet stands\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

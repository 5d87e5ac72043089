package view

import (
	"bytes"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/fleet"
)

// The fleet views print these bytes; what comes from the hosts (names,
// errors, claims) and from the hold is escaped.
func TestFleetViews(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	hold := &fleet.Hold{Reason: "INC-1\x1b[2J", User: "ann", Host: "box", Since: now.Add(-time.Hour)}
	hosts := []fleet.HostReport{
		{Name: "web-3\x1b[31m", Group: "web", State: fleet.StateFailed, At: 20, Healthy: true, Reported: now, Age: 3 * time.Second,
			Failing: []fleet.Failure{{ID: "nginx", Target: "/etc/nginx.conf", Error: "check failed\r"}}, Counts: fleet.Counts{Failed: 1}},
		{Name: "db-1", Group: "db", State: fleet.StateFailed, At: 20, Problem: "etcd lost", Reported: now, Age: 75 * time.Second},
		{Name: "lb-1", Group: "lb", State: fleet.StateHeld, At: 15, Lag: 5, Healthy: true, Held: "INC-1", Reported: now, Age: 3 * time.Hour},
		{Name: "web-10", Group: "web", State: fleet.StateOK, At: 21, Healthy: true, Reported: now, Age: 100 * time.Hour,
			Claims: []fleet.Claim{{Instance: "a", Hostname: "h1", PID: 1, Started: now}, {Instance: "b", Hostname: "h2", PID: 2, Started: now}}},
		{Name: "new", Group: "web", State: fleet.StateBehind, At: 0, Lag: 20, Healthy: true},
	}
	for _, tc := range []struct {
		name string
		show func(v *View) error
		want string
		err  string
	}{
		{name: "status", show: func(v *View) error {
			return NewFleetStatus(v, false).Report(&fleet.Report{Prefix: "/reconfig", Revision: 20, Barrier: true, Hold: hold, Hosts: hosts,
				Summary: fleet.Summary{Hosts: 5, OK: 1, Behind: 1, Failed: 2, Held: 1}})
		}, want: "" +
			"HOST           GROUP  REVISION  LAG  STATE   REPORTED\n" +
			"web-3\\x1b[31m  web    20        0    failed  3s ago\n" +
			"  failed: nginx (/etc/nginx.conf): check failed\\r\n" +
			"db-1           db     20        0    failed  1m15s ago\n" +
			"  unhealthy: etcd lost\n" +
			"lb-1           lb     15        5    held    3h00m ago\n" +
			"  held: INC-1\n" +
			"web-10         web    21        0    ok      4d ago\n" +
			"  duplicate: 2 daemons claim this name:\n" +
			"    pid 1 on h1, started 2025-03-01T12:00:00Z\n" +
			"    pid 2 on h2, started 2025-03-01T12:00:00Z\n" +
			"new            web    0         20   behind  never\n" +
			"Fleet: 5 hosts, 1 at revision 20, 1 behind, 2 failed, 1 held.\n" +
			"Held since 2025-03-01T11:00:00Z by ann on box: INC-1\\x1b[2J. Release with `reconfig fleet release`.\n"},
		{name: "status without a barrier", show: func(v *View) error {
			return NewFleetStatus(v, false).Report(&fleet.Report{Prefix: "/reconfig", Revision: 7, BarrierError: "permission denied", Group: "db"})
		}, want: "No host reports under /reconfig in group db.\nFleet: 0 hosts, 0 at revision 7, 0 behind, 0 failed.\n",
			err: "reconfig: warning: could not write the barrier (permission denied): hosts are judged against revision 7, when the fleet was read, and a host none of whose keys changed since its last report shows as behind\n"},
		{name: "wait converged", show: func(v *View) error {
			return NewFleetWait(v, false).Ended(fleet.Verdict{Outcome: fleet.Converged, Revision: 20, MinHosts: 200, Live: 212, At: 212, Elapsed: 1234 * time.Millisecond})
		}, want: "Converged: 212 hosts at revision 20 (at least 200 wanted), after 1.2s.\n"},
		{name: "wait failed", show: func(v *View) error {
			return NewFleetWait(v, false).Ended(fleet.Verdict{Outcome: fleet.FailedAt, Revision: 20, MinHosts: 1, Live: 5, At: 2,
				Failed: hosts[:2], Behind: hosts[4:], Elapsed: 40 * time.Millisecond})
		}, want: "Failed: host web-3\\x1b[31m at revision 20: binding nginx (/etc/nginx.conf): check failed\\r\n" +
			"  also host db-1 at revision 20: unhealthy: etcd lost\n" +
			"2 of 5 hosts at revision 20, 2 failed, 1 behind, after 40ms.\n"},
		{name: "wait timed out", show: func(v *View) error {
			return NewFleetWait(v, false).Ended(fleet.Verdict{Outcome: fleet.TimedOut, Revision: 20, Group: "web", MinHosts: 3, Live: 2, At: 0,
				Behind: []fleet.HostReport{hosts[2], hosts[4]}, Hold: hold, Elapsed: 5 * time.Minute})
		}, want: "Timed out after 5m0s: 0 of 2 hosts in group web at revision 20.\n" +
			"  only 2 live hosts, fewer than --min-hosts 3\n" +
			"  lb-1 at revision 15, 5 behind, held: INC-1, reported 3h00m ago\n" +
			"  new at revision 0, 20 behind, reported never\n" +
			"Held since 2025-03-01T11:00:00Z by ann on box: INC-1\\x1b[2J. Release with `reconfig fleet release`.\n"},
		{name: "wait --json", show: func(v *View) error {
			return NewFleetWait(v, true).Ended(fleet.Verdict{Outcome: fleet.Converged, Revision: 20, MinHosts: 1, Live: 1, At: 1, Elapsed: 1500 * time.Millisecond})
		}, want: "{\n  \"outcome\": \"converged\",\n  \"revision\": 20,\n  \"min_hosts\": 1,\n  \"live\": 1,\n  \"at\": 1,\n  \"elapsed_seconds\": 1.5\n}\n"},
		{name: "hold", show: func(v *View) error { v.FleetHeld("/reconfig", *hold, nil); return nil },
			want: "Held the fleet under /reconfig: INC-1\\x1b[2J. Every --fleet daemon applies nothing new until `reconfig fleet release`.\n"},
		{name: "release", show: func(v *View) error { v.FleetReleased("/reconfig", hold); return nil },
			want: "Released the fleet under /reconfig, held since 2025-03-01T11:00:00Z by ann on box (INC-1\\x1b[2J): every --fleet daemon applies the latest now.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			if err := tc.show(New(&out, &errs, nil)); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want || errs.String() != tc.err {
				t.Fatalf("stdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", out.String(), tc.want, errs.String(), tc.err)
			}
		})
	}
}

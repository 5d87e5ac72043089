// Package fleetpage serves `reconfig fleet serve`: a read-only page and
// JSON API over one etcd watch of the fleet prefix.
//
// It keeps a fleet.Fleet current from that watch (one read, then the
// watch's events; a fresh read after compaction or a broken watch) and
// judges it with package fleet, the way `fleet status` does; it decides
// nothing about hosts itself. What it adds is presentation over HTTP:
//
//	/             the page (HTML, CSS and JavaScript embedded in the binary)
//	/api/fleet    the report `fleet status --json` prints, judged now
//	/events       server-sent events: a full frame, then only what changed,
//	              at most one frame per Options.Interval
//	/healthz      200 while the watch is established and etcd reachable,
//	              503 with the reason otherwise
//
// Hosts are judged against the newest barrier (control/barrier) the watch
// has seen, once every host answered it or Options.Settle has passed, as
// `fleet status --settle` does; the page never writes a barrier. With no
// barrier at all they are judged against the revision the page read the
// fleet at, and the report says so (Barrier false). etcd's revision as the
// page last saw it is shown beside, never judged against: every report
// moves it.
//
// It never reads anything but the fleet prefix, so no key value and no
// config content can reach the page: the status documents carry target
// paths, outcomes and first error lines, nothing else.
package fleetpage

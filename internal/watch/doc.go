// Package watch is the reconfig daemon: apply once, then keep the snapshot
// current from the etcd watch stream and apply again on each change.
//
// It owns the daemon's life: connecting with capped exponential backoff,
// one consistent snapshot, one watch stream (a watch per merged key range,
// each resumed from the revision it has seen; responses queued as they
// arrive, all of them taken by the next cycle), re-rendering only the
// bindings that read a changed key, quiescence (--wait MIN:MAX), periodic
// resyncs, the truth about etcd (the connection's state, progress requests
// on a silent stream, ranges that cannot be watched, another cluster on
// the endpoint), compaction (a fresh snapshot), SIGHUP reloads, failed
// bindings retried on their own schedule, cycles held back with growing
// delays while the state cannot be used, and metrics and health. Every
// cycle renders first, without the lock and stoppable by the daemon's
// context, then runs the apply cycle of package engine, the one `reconfig
// apply` runs, under the same state lock. A failure of a binding, a
// command or etcd never ends the daemon, and it writes nothing while it
// has no data.
//
// daemon.go is the daemon's life (connections, sessions, snapshots,
// reloads); stream.go follows one watch stream (the snapshot kept current,
// the stream proved alive); cycle.go schedules the cycles (pending changes,
// quiescence, retries, cycles held back) and runs one.
package watch

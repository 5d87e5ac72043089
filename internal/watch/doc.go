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
// context, then plans and applies as `reconfig apply --auto-approve` does,
// under the same state lock. A failure of a binding, a command or etcd
// never ends the daemon, and it writes nothing while it has no data.
package watch

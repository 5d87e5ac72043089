// Package watch is the reconfig daemon: apply once, then keep the snapshot
// current from the etcd watch stream and apply again on each change.
//
// It owns the daemon's life: connecting with capped exponential backoff,
// one consistent snapshot, one watch stream (a watch per merged key range,
// each resumed from the revision it has seen), re-rendering only the
// bindings that read a changed key, quiescence (--wait MIN:MAX), periodic
// resyncs, liveness of the stream (progress requests), compaction (a fresh
// snapshot), SIGHUP reloads of the configuration, and metrics. Every cycle
// runs the same plan and apply as `reconfig apply --auto-approve`, under
// the same state lock. A failure of a binding, a command or etcd never ends
// the daemon, and it writes nothing while it has no data.
package watch

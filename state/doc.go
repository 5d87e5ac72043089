// Package state owns reconfig's state file and its lock.
//
// The state file records what apply last did: the etcd cluster and
// revision, per binding the target's content hash, revision, check/reload
// outcome and sensitivity, and the orphaned old targets of bindings whose
// target changed. It is JSON, mode 0600, replaced atomically, with a
// lineage fixed at creation and a serial that grows by one on every write.
// A corrupt state is an error, never silently reset.
//
// The lock is a separate <state>.lock file held with flock(2) for a whole
// apply; it records who holds it (pid, operation, since when, host) so a
// refused apply can say so. Beside them, <state>.journal is apply's journal
// of unchecked installs (JournalPath).
package state

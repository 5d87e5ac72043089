// Package engine runs reconfig's operations against one state file. It
// owns loading the configuration (Load: every binding and template, every
// problem at once), planning without the lock (Plan, for `reconfig
// plan`), comparing two configurations rendered from one snapshot
// (Compare, for `reconfig plan --baseline`: no target, no state, no lock),
// and the one apply cycle (Apply) that `reconfig apply`, `reconfig apply
// PLANFILE` and every cycle of the daemon share.
//
// Where one apply cycle happens: engine.go, Apply. It takes the state lock,
// finishes an interrupted apply, loads the state, reads the snapshot (after
// the lock: apply plans from data no older than the lock), refuses a state
// of another etcd cluster unless forced, makes the plan (or checks a saved
// one), asks for confirmation, executes the plan, records the outcome and
// saves the state. Nothing of the plan is written before the
// confirmation, and once the plan executes it finishes even when the
// caller's context ends.
//
// It prints nothing: an operation returns what it did (Run) and, when it
// could not run, why (its error, of the types the state and plan packages
// give it; the steps before the plan wrap theirs in Blocked).
package engine

// Package apply executes a plan: it writes the changed targets atomically
// and durably, runs their check commands (against the staged file before
// the rename, or against the target after it with the old content restored
// on failure), runs each distinct reload command once, and records the
// outcome in the state. It executes exactly the plan it is given and never
// reads etcd. Bindings are independent: one failing does not stop the
// others.
//
// Targets checked after their rename are journaled first (the last checked
// content, in <state>.journal); Recover, run under the state lock before
// planning, puts that content back when an apply died before its check was
// done, so content that never passed its check does not stay. Commands run
// without reconfig's own RECONFIG_* settings, and a sensitive binding's
// command output is hidden.
package apply

// Package apply executes a plan: it writes the changed targets atomically
// and durably, runs their check commands (against the staged file before
// the rename, or against the target after it with the old content restored
// on failure), runs each distinct reload command once, and records the
// outcome in the state. It executes exactly the plan it is given and never
// reads etcd. Bindings are independent: one failing does not stop the
// others.
package apply

// Package plan decides what apply would do: it renders every binding
// against one snapshot (Render, which needs no lock), compares the result
// with each target on disk and with the state, and returns a Plan value —
// per binding the action (create, update, delete, skip, fail, no-op), the
// before hash and the after bytes, and per orphaned target (a removed
// binding's, or the old target of a binding whose target changed) whether
// it is kept or pruned. apply executes exactly that value; it does not
// re-read etcd.
//
// Plans are also files (`plan --out`): JSON, mode 0600, carrying everything
// apply needs, checked for staleness (CheckFresh) and against the current
// bindings (Verify) before they are applied: an edited plan file can do no
// more than the bindings say.
package plan

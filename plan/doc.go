// Package plan decides what apply would do: it renders every binding
// against one snapshot, compares the result with each target on disk and
// with the state, and returns a Plan value — per binding the action
// (create, update, delete, skip, fail, no-op), the before hash and the
// after bytes. apply executes exactly that value; it does not re-read etcd.
//
// Plans are also files (`plan --out`): JSON, mode 0600, carrying everything
// apply needs, and checked for staleness before they are applied.
package plan

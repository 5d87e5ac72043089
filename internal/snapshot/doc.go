// Package snapshot holds the etcd data that reconfig renders from: every
// key/value the bindings read, all at one revision.
//
// It owns the shape of that data (Selector, Span, Snapshot), how the reads
// of many bindings are merged into a few disjoint key ranges, how a snapshot
// is updated from watch events, and the JSON file written by
// `reconfig snapshot save`. It does not talk to etcd: package etcd fills
// snapshots, and everything above works on them.
//
// Promises: spans are disjoint and sorted by start key; the key/values of a
// span are sorted by key; a Snapshot answers only for keys its spans cover,
// so "absent" (covered, not there) and "unknown" (not covered) never blur.
// A watch event costs O(log n), amortised, in a span of n keys, and a read
// of k keys O(log n + k) (store.go); a span of a few keys costs little more
// memory than a slice of them.
package snapshot

// Package floor holds the floors that reconfig is measured against
// (BENCHMARKS.md "Floors"): the least any tool can do for the same durable
// result, written with nothing but the etcd client and the standard
// library. They are no product: no lock, no state, no drift or stale
// check, no journal, no error recovery. Each write is as durable as
// reconfig's: a temporary file in the target's directory, written and
// fsynced, renamed over the target, the directory fsynced.
//
//   - floor/watch: one watch on a prefix; on each event, the binding the
//     key belongs to is rendered and written.
//   - floor/oneshot: one range read, then every binding rendered and
//     written, 16 at a time.
//
// The benchmarks in bench (BenchmarkFloorWatch, BenchmarkFloorOneShot)
// build them and run them interleaved with reconfig on the same etcd.
package floor

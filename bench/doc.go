// Package bench holds reconfig's benchmarks at scale (make bench): plan
// and apply of 1,000 bindings, watch latency, bursts, the etcd requests a
// cycle costs, memory and startup — each against a real etcd, with reconfig
// as a separate process where memory or startup is measured. BENCHMARKS.md
// records the results and how to rerun them.
package bench

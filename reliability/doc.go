// Package reliability holds reconfig's reliability suite (issue 7): tests
// that try to make reconfig leave a bad config file behind or stop
// converging, with real parts only — real etcd servers (embedded members,
// separate etcd processes, three-member clusters), real files, real
// reconfig processes killed with SIGKILL, real signals and resource limits.
//
// The package has no code of its own. Its test binary doubles as reconfig
// (RECONFIG_RELIABILITY_AS_RECONFIG=1) and as an etcd member
// (etcdtest.MaybeServe), so every scenario runs reconfig as a separate
// process that can be killed, stopped or run as another user.
//
// Each scenario runs at a reduced size in `make test`; with RECONFIG_LONG
// set (`make test-long`) it runs at the full size the issue asks for: 200
// kill -9 runs, 10,000 watch-driven updates, 50 rounds of concurrent
// writers. The fuzzers live beside the code they fuzz (bindings, render,
// snapshot, state, apply). RELIABILITY.md at the root of the repository
// lists every scenario, what it checks and its result.
package reliability

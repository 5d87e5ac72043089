package bench

import (
	"context"
	"os"
	"testing"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// asReconfig makes the test binary act as reconfig for the benchmarks that
// measure it as a process of its own.
const asReconfig = "RECONFIG_BENCH_AS_RECONFIG"

// benchBinary names a reconfig binary (a release build) that the
// benchmarks run instead of the test binary, for the memory of what ships.
const benchBinary = "RECONFIG_BENCH_BINARY"

// peakFile names where a reconfig child writes its /proc/self/status as it
// exits, for its peak resident memory (VmHWM).
const peakFile = "RECONFIG_BENCH_STATUS_FILE"

func TestMain(m *testing.M) {
	etcdtest.MaybeServe()
	if os.Getenv(asReconfig) != "" {
		code := command.Run(context.Background(), os.Args, command.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
		if f := os.Getenv(peakFile); f != "" {
			// The peak of this process's own memory: rusage would count the
			// parent's, whose address space the child shared until exec.
			status, _ := os.ReadFile("/proc/self/status")
			os.WriteFile(f, status, 0o644)
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

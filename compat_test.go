package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// reconfig runs the command line in-process and returns its exit code and
// output.
func reconfig(ctx context.Context, args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	code := command.Run(ctx, append([]string{"reconfig"}, args...), command.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs})
	return code, out.String(), errs.String()
}

// TestEtcd34Compat runs plan, apply, kv, snapshot and watch against
// Debian's etcd 3.4, a separate process. Without the binary the test says
// so (and fails in CI, which installs it).
func TestEtcd34Compat(t *testing.T) {
	bin := etcdtest.Binary(t)
	ep := etcdtest.StartBinary(t, bin)
	ctx := context.Background()
	cfg := filepath.Join(t.TempDir(), "cfg")
	out := filepath.Join(t.TempDir(), "out")
	if err := testfixtures.CopyConfig(filepath.Join(testfixtures.Dir(), "demo", "cfg"), cfg, testfixtures.DemoTargetDir, out+"/"); err != nil {
		t.Fatal(err)
	}
	g := []string{"--endpoints", ep, "--cfgdir", cfg, "--no-color"}
	run := func(want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := reconfig(ctx, append(g, args...)...)
		if code != want {
			t.Fatalf("reconfig %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout
	}
	run(0, "kv", "set", "/services/web/web-1", "10.0.0.11:8080")
	run(0, "kv", "set", "/config/app/log_level", "info")
	if s := run(0, "kv", "status"); !strings.Contains(s, "etcd 3.4") {
		t.Fatalf("kv status does not report etcd 3.4:\n%s", s)
	}
	run(2, "plan", "--detailed-exitcode")
	run(0, "apply", "--auto-approve")
	run(0, "plan", "--detailed-exitcode")
	run(0, "snapshot", "save", filepath.Join(t.TempDir(), "snap.json"))

	// The daemon follows a change.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		code, _, _ := reconfig(wctx, append(g, "watch")...)
		done <- code
	}()
	run(0, "kv", "set", "/services/web/web-2", "10.0.0.12:8080")
	target := filepath.Join(out, "haproxy", "haproxy.cfg")
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(target)
		if strings.Contains(string(b), "server web-2 10.0.0.12:8080") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not converge against etcd 3.4:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch exited %d", code)
	}
}

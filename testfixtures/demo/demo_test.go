package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/command"
)

// The test binary doubles as reconfig for the demo's commands.
func TestMain(m *testing.M) {
	if os.Getenv("RECONFIG_DEMO_TEST_AS_RECONFIG") != "" {
		os.Exit(command.Run(context.Background(), os.Args, command.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

// TestDemo runs exactly what `make demo` runs, so the quick start cannot
// rot: every step must exit as the demo expects.
func TestDemo(t *testing.T) {
	t.Setenv("RECONFIG_DEMO_TEST_AS_RECONFIG", "1")
	var out, errs bytes.Buffer
	if err := Run(context.Background(), os.Args[0], &out, &errs); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{
		"Plan: 2 to create, 0 to update, 0 to delete, 0 skipped.",
		"Apply complete: 2 created, 0 updated, 0 failed, 0 skipped.",
		"haproxy reloaded:",
		"+    server web-3 10.0.0.13:8080 check",
		"Plan: 0 to create, 1 to update, 0 to delete, 0 skipped.",
		"No changes. Targets match etcd revision 3.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if errs.Len() > 0 {
		t.Errorf("demo wrote to stderr:\n%s", errs.String())
	}
}

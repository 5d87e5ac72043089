// Command demo shows reconfig at work against an embedded etcd, in a
// temporary directory: plan, apply, a change in etcd, and the plan that
// follows it. `make demo` runs it; TestDemo runs it too so it cannot rot.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/testfixtures"
)

func main() {
	bin := flag.String("reconfig", "bin/reconfig", "the reconfig binary to run")
	flag.Parse()
	if err := Run(context.Background(), *bin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// Run plays the demo with the reconfig binary bin.
func Run(ctx context.Context, bin string, stdout, stderr io.Writer) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("reconfig binary: %w (run `make build` first)", err)
	}
	tmp, err := os.MkdirTemp("", "reconfig-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	srv, err := embedded.Start(embedded.Options{Dir: filepath.Join(tmp, "etcd"), Fast: true})
	if err != nil {
		return err
	}
	defer srv.Close()
	src := filepath.Join(testfixtures.Dir(), "demo")
	raw, err := os.ReadFile(filepath.Join(src, "data.json"))
	if err != nil {
		return err
	}
	var data map[string]string
	if err := json.Unmarshal(raw, &data); err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	if _, err := srv.Load(ctx, data); err != nil {
		return err
	}
	cfg, out := filepath.Join(tmp, "cfg"), filepath.Join(tmp, "out")
	if err := testfixtures.CopyConfig(filepath.Join(src, "cfg"), cfg, "/tmp/reconfig-demo/", out+"/"); err != nil {
		return err
	}

	say := func(format string, args ...any) { fmt.Fprintf(stdout, "\n### "+format+"\n", args...) }
	reconfig := func(args ...string) (int, error) {
		fmt.Fprintf(stdout, "$ reconfig %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.Env = append(os.Environ(), "RECONFIG_CFGDIR="+cfg, "RECONFIG_ENDPOINTS="+srv.ClientURL)
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, err
	}
	step := func(want int, args ...string) error {
		code, err := reconfig(args...)
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("reconfig %s exited %d, want %d", strings.Join(args, " "), code, want)
		}
		return nil
	}

	say("An embedded etcd at %s holds the demo data; the bindings are in %s.", srv.ClientURL, cfg)
	if err := step(0, "validate"); err != nil {
		return err
	}
	say("plan: every target is new. --detailed-exitcode exits 2 when there are changes.")
	if err := step(2, "plan", "--detailed-exitcode"); err != nil {
		return err
	}
	say("apply: write atomically, check, reload, record the state.")
	if err := step(0, "apply", "--auto-approve"); err != nil {
		return err
	}
	say("A new backend registers itself in etcd.")
	if err := step(0, "kv", "set", "/services/web/web-3", "10.0.0.13:8080"); err != nil {
		return err
	}
	say("plan again: the one-line change.")
	if err := step(2, "plan", "--detailed-exitcode"); err != nil {
		return err
	}
	say("apply it, and plan shows nothing left to do.")
	if err := step(0, "apply", "--auto-approve"); err != nil {
		return err
	}
	if err := step(0, "plan", "--detailed-exitcode"); err != nil {
		return err
	}
	say("Done. `reconfig dev` starts an etcd like this one and watches it live.")
	return nil
}

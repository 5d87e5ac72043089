package confdimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/internal/embedded"
)

// confdSource finds confd's source in the Go module cache (CI puts it
// there with `go mod download github.com/kelseyhightower/confd@v0.16.0`);
// its files cannot be committed here.
func confdSource(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("confd's integration resources: cannot ask go for the module cache: %v", err)
	}
	cache := strings.TrimSpace(string(out))
	dirs, _ := filepath.Glob(filepath.Join(cache, "github.com", "kelseyhightower", "confd@*", "integration", "confdir"))
	if len(dirs) == 0 {
		skip := t.Skipf
		if os.Getenv("RECONFIG_REQUIRE_CONFD_SOURCE") != "" {
			skip = t.Fatalf // CI downloads it: its absence is a failure there
		}
		skip("confd's source is not in the module cache %s, so its integration resources cannot be imported; "+
			"run `go mod download github.com/kelseyhightower/confd@v0.16.0` (as .ci/run does) to test them", cache)
	}
	sort.Strings(dirs)
	return filepath.Dir(dirs[len(dirs)-1])
}

func reconfig(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := command.Run(context.Background(), append([]string{"reconfig"}, args...), command.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
	return out.String(), code
}

// TestConfdIntegration imports the template resources of confd's own
// integration test, checks that they validate, then applies them against
// etcd holding the keys confd's etcdv3 test puts, and compares every
// target with the file confd's test expects: the same bytes.
func TestConfdIntegration(t *testing.T) {
	integration := confdSource(t)
	cfg := filepath.Join(t.TempDir(), "cfg")

	out, code := reconfig(t, "-c", cfg, "import", "confd", filepath.Join(integration, "confdir"))
	if code != 0 {
		t.Fatalf("import confd: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "needs a hand") {
		t.Errorf("confd's integration resources should import without a hand:\n%s", out)
	}
	if out, code := reconfig(t, "-c", cfg, "validate"); code != 0 {
		t.Fatalf("validate after import: exit %d\n%s", code, out)
	}

	// The targets are under /tmp: point them into the test's directory.
	outDir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(cfg, "conf.d", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bindings written: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var b map[string]any
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		b["target"] = filepath.Join(outDir, filepath.Base(b["target"].(string)))
		data, _ = json.Marshal(b)
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The data and environment of confd's etcdv3 test script.
	script, err := os.ReadFile(filepath.Join(integration, "etcdv3", "test.sh"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := embedded.Start(embedded.Options{Dir: filepath.Join(t.TempDir(), "etcd"), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	puts := regexp.MustCompile(`(?m)^etcdctl put (\S+) (\S+)$`).FindAllStringSubmatch(string(script), -1)
	if len(puts) == 0 {
		t.Fatalf("no `etcdctl put` lines in %s/etcdv3/test.sh", integration)
	}
	for _, p := range puts {
		if _, err := srv.Put(context.Background(), p[1], p[2]); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range regexp.MustCompile(`(?m)^export (\w+)="?([^"\n]*)"?$`).FindAllStringSubmatch(string(script), -1) {
		t.Setenv(e[1], e[2])
	}

	if out, code := reconfig(t, "-c", cfg, "--endpoints", srv.ClientURL, "--state", filepath.Join(t.TempDir(), "state.json"), "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}

	// confd's check: each target against the file it expects.
	check, err := os.ReadFile(filepath.Join(integration, "expect", "check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	diffs := regexp.MustCompile(`(?m)^diff (\S+) integration/expect/(\S+)$`).FindAllStringSubmatch(string(check), -1)
	if len(diffs) == 0 {
		t.Fatalf("no diff lines in %s/expect/check.sh", integration)
	}
	for _, d := range diffs {
		got, err := os.ReadFile(filepath.Join(outDir, filepath.Base(d[1])))
		if err != nil {
			t.Errorf("%s: %v", d[1], err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(integration, "expect", d[2]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from confd's expected %s:\ngot:\n%s\nwant:\n%s", filepath.Base(d[1]), d[2], got, want)
		}
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// writeConfig writes a configuration directory from name → content; $OUT
// becomes the target directory.
func writeConfig(t *testing.T, files map[string]string) (cfg, out string) {
	t.Helper()
	cfg, out = t.TempDir(), t.TempDir()
	for name, content := range files {
		p := filepath.Join(cfg, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(content, "$OUT", out)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, out
}

// Authentication: a wrong password is one clear line; a user whose role
// only reads /app/ plans bindings under /app/ and gets a clear permission
// error elsewhere; the password comes from RECONFIG_PASSWORD, never needing
// the command line.
func TestAuth(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	if _, err := srv.Load(ctx, map[string]string{"/app/port": "8080", "/secret/key": "k"}); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/app/"})
	app, _ := writeConfig(t, map[string]string{
		"templates/t.tmpl": `port={{getv "/app/port"}}`,
		"conf.d/app":       `{"id": "app", "key": "/app", "recursive": true, "source": "t.tmpl", "target": "$OUT/app.conf"}`,
	})
	secret, _ := writeConfig(t, map[string]string{
		"templates/t.tmpl": `{{getv "/secret/key"}}`,
		"conf.d/s":         `{"id": "s", "key": "/secret/key", "source": "t.tmpl", "target": "$OUT/s.conf"}`,
	})
	ep := []string{"--endpoints", srv.ClientURL, "--no-color"}

	for _, tc := range []struct {
		name     string
		args     []string
		password string
		code     int
		stdout   string
		stderr   string
	}{
		{"no credentials", []string{"-c", app, "plan"}, "", 1, "", "reconfig: error: etcd requires authentication\nhint: pass --user NAME"},
		{"wrong password", []string{"-c", app, "--user", "reader:nope", "plan"}, "", 1, "", "reconfig: error: authentication failed for user reader\nhint: check --user and the password (RECONFIG_PASSWORD)\n"},
		{"password in the environment", []string{"-c", app, "--user", "reader", "plan"}, "readpw", 0, "+port=8080", ""},
		{"password on the command line", []string{"-c", app, "--user", "reader:readpw", "plan"}, "", 0, "+port=8080", ""},
		{"outside the role", []string{"-c", secret, "--user", "reader", "plan"}, "readpw", 1, "", "reconfig: error: read snapshot: permission denied for user reader to read /secret/key\nhint: grant the user's role read access"},
		{"a recursive binding above the role's prefix", []string{"-c", app, "--user", "reader", "kv", "get", "/app", "-r"}, "readpw", 0, `"/app/port": "8080"`, ""},
		{"root reads all", []string{"-c", secret, "--user", "root", "plan"}, "rootpw", 0, "+k", ""},
		{"kv as reader", []string{"--user", "reader", "kv", "get", "/app/port"}, "readpw", 0, `"/app/port": "8080"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RECONFIG_PASSWORD", tc.password)
			code, stdout, stderr := reconfig(ctx, append(ep, tc.args...)...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout with %q and stderr with %q", code, tc.code, stdout, stderr, tc.stdout, tc.stderr)
			}
			if strings.Contains(stderr, "rpc error") || strings.Contains(stderr, "etcdserver:") {
				t.Fatalf("raw gRPC text reached the user:\n%s", stderr)
			}
		})
	}
	t.Run("password from a file", func(t *testing.T) {
		t.Setenv("RECONFIG_PASSWORD", "")
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte("readpw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := reconfig(ctx, append(ep, "-c", app, "--user", "reader", "--password-file", pw, "plan")...)
		if code != 0 || !strings.Contains(stdout, "+port=8080") || stderr != "" {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
}

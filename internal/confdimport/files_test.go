package confdimport_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/internal/confdimport"
)

// writeConfd makes a confd directory with one resource, s.toml, rendering
// templates/s.tmpl.
func writeConfd(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "confd")
	for _, d := range []string{"conf.d", "templates"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res := "[template]\nsrc = \"s.tmpl\"\ndest = \"/etc/s.conf\"\nkeys = [\"/s\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "s.toml"), []byte(res), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The import copies confd's files; it never makes one readable by more
// users than the file it came from, and never follows a template symlink
// out of confd's templates directory (reconfig refuses such a template
// too): as root it would copy /etc/shadow into a world-readable template.
func TestImportKeepsFilesPrivate(t *testing.T) {
	t.Run("modes", func(t *testing.T) {
		confd := writeConfd(t)
		if err := os.WriteFile(filepath.Join(confd, "templates", "s.tmpl"), []byte(`pw={{getv "/s"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(t.TempDir(), "cfg")
		imp, err := confdimport.Convert(confdimport.Options{ConfDir: confd, CfgDir: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if err := imp.Write(); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"conf.d/s.json", "templates/s.tmpl"} {
			info, err := os.Stat(filepath.Join(cfg, f))
			if err != nil {
				t.Fatal(err)
			}
			if p := info.Mode().Perm(); p != 0o600 {
				t.Errorf("%s has mode %04o; its confd file is 0600", f, p)
			}
		}
	})
	t.Run("template symlink out of templates", func(t *testing.T) {
		confd := writeConfd(t)
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte("root:SECRET\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, filepath.Join(confd, "templates", "s.tmpl")); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(t.TempDir(), "cfg")
		_, err := confdimport.Convert(confdimport.Options{ConfDir: confd, CfgDir: cfg})
		if err == nil || !strings.Contains(err.Error(), "templates/s.tmpl") || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("a template linked out of confd's templates: %v; want it refused, naming the file and the symlink", err)
		}
		if _, err := os.Stat(cfg); !os.IsNotExist(err) {
			t.Fatalf("%s was made", cfg)
		}
	})
}

// A dest inside the configuration the import writes (its conf.d/ or
// templates/) would let etcd data define bindings: refused, nothing written.
func TestImportRefusesDestInConfiguration(t *testing.T) {
	confd := writeConfd(t)
	if err := os.WriteFile(filepath.Join(confd, "templates", "s.tmpl"), []byte(`{{getv "/s"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "cfg")
	res := "[template]\nsrc = \"s.tmpl\"\ndest = \"" + filepath.Join(cfg, "conf.d", "pwn.json") + "\"\nkeys = [\"/s\"]\n"
	if err := os.WriteFile(filepath.Join(confd, "conf.d", "s.toml"), []byte(res), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := confdimport.Convert(confdimport.Options{ConfDir: confd, CfgDir: cfg})
	if err == nil || !strings.Contains(err.Error(), "s.toml") || !strings.Contains(err.Error(), "reconfig's own configuration") {
		t.Fatalf("a dest in the configuration's conf.d: %v; want it refused, naming the resource", err)
	}
}

package bindings_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/bindings"
)

// FuzzLoad feeds hostile binding files to Load: it never panics, refuses
// bad input with errors that name the file, and what it accepts has a key,
// an absolute clean target and a source inside templates/.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"key": "/a", "source": "t.tmpl", "target": "/tmp/x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for _, d := range []string{"conf.d", "templates/sub"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(dir, "templates", "t.tmpl"), []byte("{{.ID}}"), 0o644)
		os.WriteFile(filepath.Join(dir, "templates", "sub", "u.tmpl"), []byte("{{.ID}}"), 0o644)
		os.WriteFile(filepath.Join(dir, "secret"), []byte("outside"), 0o644)
		file := filepath.Join(dir, "conf.d", "b")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := bindings.Load(dir)
		if err != nil {
			var errs bindings.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a list of binding errors: %T %v", err, err)
			}
			for _, e := range errs {
				if e.File != file || strings.TrimSpace(e.Msg) == "" || strings.Contains(e.Msg, "panic") {
					t.Fatalf("error does not name the file, or says nothing: %+v", e)
				}
			}
			return
		}
		if len(set.Bindings) != 1 {
			t.Fatalf("%d bindings from one file", len(set.Bindings))
		}
		b := set.Bindings[0]
		templates, _ := filepath.EvalSymlinks(filepath.Join(dir, "templates"))
		real, err := filepath.EvalSymlinks(b.SourcePath)
		rel, _ := filepath.Rel(templates, real)
		switch {
		case !strings.HasPrefix(b.Key, "/"):
			t.Fatalf("accepted key %q", b.Key)
		case !filepath.IsAbs(b.Target) || filepath.Clean(b.Target) != b.Target || b.Target == "/":
			t.Fatalf("accepted target %q", b.Target)
		case err != nil || rel == ".." || strings.HasPrefix(rel, "../"):
			t.Fatalf("accepted source %q outside templates/ (%s, %v)", b.Source, real, err)
		case b.LeftDelim == "" || b.RightDelim == "" || b.LeftDelim == b.RightDelim:
			t.Fatalf("accepted delimiters %q %q", b.LeftDelim, b.RightDelim)
		case b.CommandTimeout <= 0:
			t.Fatalf("accepted command timeout %v", b.CommandTimeout)
		}
	})
}

// FuzzParsePattern: a pattern is accepted only as two different
// delimiters without white space, exactly the pattern's two fields.
func FuzzParsePattern(f *testing.F) {
	f.Add("{{ }}")
	f.Fuzz(func(t *testing.T, pattern string) {
		l, r, err := bindings.ParsePattern(pattern)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if fs := strings.Fields(pattern); len(fs) != 2 || fs[0] != l || fs[1] != r || l == r {
			t.Fatalf("pattern %q gave %q %q", pattern, l, r)
		}
	})
}

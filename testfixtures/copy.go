package testfixtures

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Dir is the directory of the fixtures in the source tree.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// CopyConfig copies the configuration directory src to dst, replacing from
// with to in every binding file, so that fixtures written for /tmp write
// into a test's own directory instead.
func CopyConfig(src, dst, from, to string) error {
	return copyConfigFS(os.DirFS(src), ".", dst, from, to)
}

// copyConfigFS is CopyConfig for the directory root of fsys.
func copyConfigFS(fsys fs.FS, root, dst, from, to string) error {
	sub, err := fs.Sub(fsys, root)
	if err != nil {
		return err
	}
	return fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(sub, path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(path, "conf.d/") {
			data = []byte(strings.ReplaceAll(string(data), from, to))
		}
		return os.WriteFile(target, data, 0o644)
	})
}

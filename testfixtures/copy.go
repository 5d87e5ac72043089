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
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "conf.d"+string(filepath.Separator)) {
			data = []byte(strings.ReplaceAll(string(data), from, to))
		}
		return os.WriteFile(target, data, 0o644)
	})
}

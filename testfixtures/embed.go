package testfixtures

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Demo is the demo configuration (cfg/) and data (data.json), built into
// the binary for `reconfig dev`.
//
//go:embed demo/data.json demo/cfg
var Demo embed.FS

// DemoTargetDir is where the demo's bindings write; WriteDemo points them
// elsewhere.
const DemoTargetDir = "/tmp/reconfig-demo/"

// WriteDemo writes the demo configuration into dst, with its targets under
// out instead of DemoTargetDir.
func WriteDemo(dst, out string) error {
	return fs.WalkDir(Demo, "demo/cfg", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(path, "demo/cfg"), "/")
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := Demo.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "conf.d/") {
			data = []byte(strings.ReplaceAll(string(data), DemoTargetDir, strings.TrimSuffix(out, "/")+"/"))
		}
		return os.WriteFile(target, data, 0o644)
	})
}

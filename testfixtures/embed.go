package testfixtures

import (
	"embed"
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
	return copyConfigFS(Demo, "demo/cfg", dst, DemoTargetDir, strings.TrimSuffix(out, "/")+"/")
}

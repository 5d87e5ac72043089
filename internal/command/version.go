package command

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Version and Commit are stamped by `make release` (-ldflags -X).
var (
	Version = "dev"
	Commit  = ""
)

func versionCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the version of reconfig, Go and the etcd client",
		UsageText: "reconfig version",
		Action:    func(c *cli.Context) error { return runVersion(c, env) },
	}
}

func runVersion(_ *cli.Context, env *runEnv) error {
	commit := Commit
	etcdVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "go.etcd.io/etcd/client/v3" {
				etcdVersion = d.Version
			}
		}
		if commit == "" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	w := env.io.Stdout
	fmt.Fprintf(w, "reconfig %s\n", Version)
	fmt.Fprintf(w, "commit: %s\n", commit)
	fmt.Fprintf(w, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "etcd client: %s\n", etcdVersion)
	return nil
}

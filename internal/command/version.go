package command

import (
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/view"
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
	env.view().Version(view.VersionInfo{
		Version:    Version,
		Commit:     commit,
		Go:         runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
		EtcdClient: etcdVersion,
	})
	return nil
}

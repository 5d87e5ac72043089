// Command reconfig-dev is reconfig with an etcd server and the demo built
// in, for `reconfig dev`: reconfig runs it, found beside itself or on PATH,
// with its own command line. The daemon's binary stays free of the etcd
// server's code and memory.
package main

import (
	"context"
	"os"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/internal/devkit"
)

func main() {
	os.Exit(command.RunDev(context.Background(), os.Args, command.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, devkit.Kit{}))
}

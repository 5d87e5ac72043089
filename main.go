// Command reconfig keeps a host's config files in step with data in etcd.
package main

import (
	"context"
	"os"

	"github.com/reconfig/reconfig/internal/command"
)

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr *os.File) int {
	return command.Run(ctx, args, command.IO{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr})
}

// Package command is reconfig's command layer: it parses the command line
// (urfave/cli) into typed arguments, makes one call into the core packages,
// and hands the result to a view. It is the only layer that prints, and it
// never exits: Run returns the exit code for main.
package command

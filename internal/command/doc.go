// Package command is reconfig's command layer: it parses the command line
// (urfave/cli) into typed arguments, makes one call into the core packages
// (internal/engine for plan, apply and watch cycles), and hands the result
// to a view of internal/view, the only package that prints. It never
// exits: Run returns the exit code for main.
package command

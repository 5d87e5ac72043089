// Package supervise runs the one program of `reconfig watch --exec`: the
// program a container exists for, started once its config files are in
// place, told of each change with a signal or restarted, and whose end is
// reconfig's end.
//
// It owns the child's life. The command line is run by /bin/sh -c, as
// check and reload commands are (same quoting, variables, redirections),
// with `exec` put before the program (ExecLine) so that the shell replaces
// itself with it: the program is reconfig's child and receives the
// signals itself. A command line of several commands is refused. The
// child runs in a process group of its own: a terminal's ^C reaches it
// once, through reconfig, and SIGKILL after the kill timeout, and the
// clean-up once the child has ended, reach everything it started.
//
// A Supervisor promises: Start starts the child at most once; Changed
// sends the reload signal, or restarts the child (SIGTERM, the kill
// timeout, SIGKILL, then start again), coalescing changes that arrive
// while it is busy; Stop forwards a signal and sends SIGKILL if the child
// outlives the kill timeout; Done is closed when the child has ended for
// good — on its own or after Stop, never during a restart — and Code is
// then its exit status, 128+N for a child killed by signal N, as shells
// report it. It never prints: it logs to the slog.Logger it is given.
package supervise

package command

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconfig/reconfig/internal/view"
	"github.com/reconfig/reconfig/state"
)

func stateCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:  "state",
		Usage: "show what the state file records, or remove a stale lock",
		UsageText: `reconfig state list
   reconfig state show ID [--json]
   reconfig state unlock`,
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the bindings the state records",
				UsageText: "reconfig state list",
				Action:    func(c *cli.Context) error { return runStateList(c, env) },
			},
			{
				Name:      "show",
				Usage:     "show one binding's record",
				UsageText: "reconfig state show ID [--json]\n\nExample:\n   reconfig state show haproxy",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the record as JSON"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &usageError{msg: "state show takes one binding id", cmd: "state show"}
					}
					return runStateShow(c, env, c.Args().First(), c.Bool("json"))
				},
			},
			{
				Name:  "unlock",
				Usage: "remove a lock file that no running reconfig holds",
				UsageText: `reconfig state unlock

The state lock is an flock on STATE.lock, which the kernel releases when its
process dies; unlock removes the file and refuses while a live process holds it.`,
				Action: func(c *cli.Context) error { return runStateUnlock(c, env) },
			},
		},
	}
}

func loadStateFor(c *cli.Context, env *runEnv) (*state.State, *globals, error) {
	g, err := env.globals(c)
	if err != nil {
		return nil, nil, err
	}
	st, err := state.Load(g.statePath)
	if err != nil {
		return nil, nil, err
	}
	return st, g, nil
}

func runStateList(c *cli.Context, env *runEnv) error {
	st, g, err := loadStateFor(c, env)
	if err != nil {
		return err
	}
	w := env.io.Stdout
	if !st.Exists() {
		fmt.Fprintf(w, "No state at %s: nothing applied yet.\n", g.statePath)
		return nil
	}
	fmt.Fprintf(w, "State %s: lineage %s, serial %d, etcd cluster %s, revision %d\n", g.statePath, st.Lineage, st.Serial, st.ClusterID, st.Revision)
	for _, id := range st.IDs() {
		r := st.Bindings[id]
		mark := ""
		if r.Error != "" {
			mark = "  " + env.style.Err.Sprint("(last apply failed)")
		}
		fmt.Fprintf(w, "  %s  %s  revision %d  %s%s\n", env.style.Bold.Sprint(view.Printable(id)), view.Printable(r.Target), r.Revision, r.AppliedAt.Local().Format(time.RFC3339), mark)
	}
	for _, t := range slices.Sorted(maps.Keys(st.Orphans)) {
		r := st.Orphans[t]
		fmt.Fprintf(w, "  %s  %s  revision %d  %s\n", env.style.Dim.Sprint("(orphan of "+view.Printable(r.Binding)+")"), view.Printable(r.Target), r.Revision, r.AppliedAt.Local().Format(time.RFC3339))
	}
	return nil
}

func runStateShow(c *cli.Context, env *runEnv, id string, asJSON bool) error {
	st, g, err := loadStateFor(c, env)
	if err != nil {
		return err
	}
	r, ok := st.Bindings[id]
	if !ok {
		return &hinted{err: fmt.Errorf("the state %s records no binding %q", g.statePath, id), hint: "`reconfig state list` shows the recorded ids"}
	}
	w := env.io.Stdout
	sum := r.SHA256
	if r.Sensitive {
		// A hash of a low-entropy secret is as good as the secret.
		shown := *r
		shown.SHA256, r = "", &shown
		sum = "(not shown: the binding is sensitive)"
	}
	if asJSON {
		data, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(w, "%s\n", data)
		return nil
	}
	fmt.Fprintf(w, "id:         %s\n", view.Printable(id))
	fmt.Fprintf(w, "target:     %s\n", view.Printable(r.Target))
	fmt.Fprintf(w, "sha256:     %s\n", sum)
	fmt.Fprintf(w, "revision:   %d\n", r.Revision)
	fmt.Fprintf(w, "applied at: %s\n", r.AppliedAt.Local().Format(time.RFC3339))
	fmt.Fprintf(w, "check:      %s\n", r.Check)
	fmt.Fprintf(w, "reload:     %s\n", r.Reload)
	if r.Error != "" {
		fmt.Fprintf(w, "error:      %s\n", view.Printable(r.Error))
	}
	return nil
}

func runStateUnlock(c *cli.Context, env *runEnv) error {
	g, err := env.globals(c)
	if err != nil {
		return err
	}
	info, err := state.Unlock(g.statePath)
	if err != nil {
		return err
	}
	switch {
	case info != nil:
		fmt.Fprintf(env.io.Stdout, "Removed the stale lock of pid %d (%s, since %s).\n", info.PID, info.Operation, info.Since.Local().Format(time.RFC3339))
	default:
		fmt.Fprintf(env.io.Stdout, "No lock held on %s.\n", g.statePath)
	}
	return nil
}

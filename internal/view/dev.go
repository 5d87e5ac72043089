package view

import "fmt"

// DevSession is what `reconfig dev` started.
type DevSession struct {
	// Endpoint is the embedded etcd's client URL, Keys the keys loaded into
	// it, DataDir its data directory, Kept whether that stays after exit.
	Endpoint string
	Keys     int
	DataDir  string
	Kept     bool
	// Dir is dev's directory; CfgDir the bindings'; StatePath dev's own
	// state file.
	Dir, CfgDir, StatePath string
	// Demo is set when the demo bindings run (their targets under Dir/out);
	// otherwise the operator's bindings write under Targets, and their
	// commands run only with RunCommands.
	Demo        bool
	Targets     string
	RunCommands bool
}

// DevStarted tells where the embedded etcd listens, what is watched and
// written, and how to try a change.
func (v *View) DevStarted(d DevSession) {
	w := v.stdout
	fate := "removed on exit"
	if d.Kept {
		fate = "kept"
	}
	fmt.Fprintf(w, "%s etcd is listening on %s with %d keys (data dir %s, %s).\n", v.style.Bold.Sprint("reconfig dev:"), d.Endpoint, d.Keys, d.DataDir, fate)
	fmt.Fprintf(w, "Bindings: %s/conf.d", d.CfgDir)
	if d.Demo {
		fmt.Fprintf(w, " (the demo; targets under %s/out)", d.Dir)
	} else {
		fmt.Fprintf(w, "\nNothing real is touched: each target is written under %s/ (its own path below that), not where the binding says;", d.Targets)
		if d.RunCommands {
			fmt.Fprintf(w, "\ncheck and reload commands RUN for real (--run-commands): a reload command acts on this host's services;")
		} else {
			fmt.Fprintf(w, "\ncheck and reload commands are shown, not run (--run-commands runs them);")
		}
	}
	fmt.Fprintf(w, "\nthe state is %s, not the real one.", d.StatePath)
	fmt.Fprintf(w, "\nIn another terminal, change a key and watch the target follow:\n")
	fmt.Fprintf(w, "    reconfig --endpoints %s kv set /services/web/web-3 10.0.0.13:8080\n", d.Endpoint)
	fmt.Fprintf(w, "    reconfig --endpoints %s kv del /services/web/web-1\n", d.Endpoint)
	if d.Demo {
		fmt.Fprintf(w, "    cat %s/out/haproxy/haproxy.cfg\n", d.Dir)
	}
	fmt.Fprintf(w, "Ctrl-C stops both.\n\n")
}

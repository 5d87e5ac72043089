package view

import (
	"fmt"

	"github.com/reconfig/reconfig/bindings"
)

// Validated lists the valid bindings of cfgDir (validate).
func (v *View) Validated(cfgDir string, bs []*bindings.Binding) {
	w := v.stdout
	if len(bs) == 0 {
		fmt.Fprintf(w, "No bindings in %s/conf.d.\n", cfgDir)
		return
	}
	for _, b := range bs {
		fmt.Fprintf(w, "  %s  %s → %s\n", v.style.Bold.Sprint(b.ID), b.Key, b.Target)
	}
	fmt.Fprintf(w, "%d binding%s valid.\n", len(bs), plural(len(bs)))
}

// SkippedFiles lists the files of conf.d that are not read (validate).
func (v *View) SkippedFiles(skipped []bindings.Skipped) {
	for _, s := range skipped {
		fmt.Fprintf(v.stdout, "  %s  %s (%s): not a binding file\n", v.style.Dim.Sprint("skipped"), Printable(s.Path), s.Why)
	}
}

package view

import (
	"fmt"
	"time"

	"github.com/reconfig/reconfig/plan"
)

// ShowView is the output of reconfig show: a saved plan, for review.
type ShowView interface {
	// Show shows the plan p read from the file path.
	Show(p *plan.Plan, path string) error
}

// NewShow returns the human or the JSON view of show.
func NewShow(v *View, asJSON bool) ShowView {
	if asJSON {
		return showJSON{v}
	}
	return showHuman{v}
}

type showHuman struct{ *View }

func (v showHuman) Show(p *plan.Plan, path string) error {
	w, s := v.stdout, v.style
	made := "made before any state existed"
	if p.Lineage != "" {
		made = fmt.Sprintf("made against state serial %d", p.Serial)
	}
	fmt.Fprintf(w, "%s %s, saved %s at etcd revision %d, %s.\n", s.Bold.Sprint("Plan file"), Printable(path),
		p.CreatedAt.UTC().Format(time.DateTime+" UTC"), p.Revision, made)
	if p.Partial {
		fmt.Fprintln(w, s.Dim.Sprint("It plans only the bindings --target named."))
	}
	fmt.Fprintln(w)
	PlanWith(w, s, p, PlanOptions{MaxDiffLines: v.diffLines})
	if p.HasChanges() {
		fmt.Fprintf(w, "\nApply exactly these changes with:\n    reconfig apply %s\n", Printable(path))
	}
	return nil
}

type showJSON struct{ *View }

func (v showJSON) Show(p *plan.Plan, path string) error {
	out := planJSON(p)
	out.PlanFile = path
	created := p.CreatedAt.UTC()
	out.CreatedAt = &created
	return writeJSON(v.stdout, out)
}

package view

import (
	"fmt"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/plan"
)

// PlanView is the output of reconfig plan.
type PlanView interface {
	// NoDrift warns that the state belongs to another cluster, so drift
	// is not reported.
	NoDrift(mismatch error)
	// Plan shows the plan; saved names the file it was written to ("":
	// not saved).
	Plan(p *plan.Plan, saved string) error
	// Compared shows a comparison with the configuration directory
	// baseline (engine.Compare).
	Compared(p *plan.Plan, baseline string) error
}

// NewPlan returns the human or the JSON view of plan.
func NewPlan(v *View, asJSON bool) PlanView {
	if asJSON {
		return planJSONView{planHuman{v}}
	}
	return planHuman{v}
}

type planHuman struct{ *View }

func (v planHuman) NoDrift(mismatch error) {
	Warning(v.stderr, v.style, "%v; drift is not reported", mismatch)
}

func (v planHuman) Plan(p *plan.Plan, saved string) error {
	PlanWith(v.stdout, v.style, p, PlanOptions{MaxDiffLines: v.diffLines})
	if saved != "" {
		fmt.Fprintf(v.stdout, "\nSaved the plan to %s. Apply exactly these changes with:\n    reconfig apply %s\n", saved, saved)
	}
	return nil
}

func (v planHuman) Compared(p *plan.Plan, baseline string) error {
	PlanWith(v.stdout, v.style, p, PlanOptions{MaxDiffLines: v.diffLines, Baseline: baseline})
	return nil
}

type planJSONView struct{ planHuman }

func (v planJSONView) Plan(p *plan.Plan, _ string) error { return PlanJSON(v.stdout, p) }

func (v planJSONView) Compared(p *plan.Plan, baseline string) error {
	out := planJSON(p)
	out.Baseline = baseline
	return writeJSON(v.stdout, out)
}

// ApplyView is the output of reconfig apply.
type ApplyView interface {
	// Before shows what comes before anything is written: the targets an
	// interrupted apply left, and the plan unless it came from a file
	// (p nil: none was made).
	Before(recovered []apply.Recovered, p *plan.Plan, fromFile bool)
	// Prompt asks for "yes"; Answered ends its line; Cancelled says that
	// another answer cancelled apply.
	Prompt()
	Answered()
	Cancelled()
	// Applied shows the outcome; planFile names a saved plan ("": none).
	Applied(p *plan.Plan, r *apply.Result, planFile string) error
}

// NewApply returns the human or the JSON view of apply.
func NewApply(v *View, asJSON bool) ApplyView {
	if asJSON {
		return applyJSONView{applyHuman{v}}
	}
	return applyHuman{v}
}

type applyHuman struct{ *View }

func (v applyHuman) Before(recovered []apply.Recovered, p *plan.Plan, fromFile bool) {
	Recovered(v.stdout, v.style, recovered)
	if p != nil && !fromFile {
		PlanWith(v.stdout, v.style, p, PlanOptions{MaxDiffLines: v.diffLines})
	}
}

func (v applyHuman) Prompt() {
	fmt.Fprint(v.stdout, "\nDo you want to apply these changes?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
}

func (v applyHuman) Answered() { fmt.Fprintln(v.stdout) }

func (v applyHuman) Cancelled() { fmt.Fprintln(v.stdout, "\nApply cancelled.") }

func (v applyHuman) Applied(p *plan.Plan, r *apply.Result, planFile string) error {
	Applied(v.stdout, v.style, p, r, planFile)
	return nil
}

// applyJSONView keeps stdout one JSON document: what comes before the
// outcome goes to stderr.
type applyJSONView struct{ applyHuman }

func (v applyJSONView) Before(recovered []apply.Recovered, _ *plan.Plan, _ bool) {
	Recovered(v.stderr, v.style, recovered)
}

func (v applyJSONView) Applied(p *plan.Plan, r *apply.Result, _ string) error {
	return ApplyJSON(v.stdout, p, r)
}

package view

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/plan"
)

// Apply prints what apply did: a line per changed or failed binding, its
// check and reload outcome with their output when they failed, then the
// summary line.
func Apply(w io.Writer, s *Style, p *plan.Plan, r *apply.Result) {
	createdDirs := map[string]bool{}
	for _, o := range r.Outcomes {
		if !o.Action.Changes() && o.Action != plan.Fail {
			continue
		}
		if o.CreatedDir != "" && !createdDirs[o.CreatedDir] {
			createdDirs[o.CreatedDir] = true
			fmt.Fprintf(w, "  created directory %s\n", Printable(o.CreatedDir))
		}
		switch {
		case o.Failed():
			fmt.Fprintf(w, "%s %s  %s  %s\n", s.Err.Sprint("!"), s.Bold.Sprint(Printable(o.ID)), Printable(o.Target), s.Err.Sprint("failed: ")+Printable(errText(o)))
			if h := permissionHint(o); h != "" {
				fmt.Fprintf(w, "  %s %s\n", s.Bold.Sprint("hint:"), Printable(h))
			}
		case o.Changed:
			verb := map[plan.Action]string{plan.Create: "created", plan.Update: "updated", plan.Delete: "deleted"}[o.Action]
			fmt.Fprintf(w, "%s %s  %s  %s\n", symbol(s, o.Action), s.Bold.Sprint(Printable(o.ID)), Printable(o.Target), verb)
		}
		command(w, s, "check", o.Check)
	}
	for _, rl := range r.Reloads {
		fmt.Fprintf(w, "  reload for %s: ", Printable(strings.Join(rl.IDs, ", ")))
		if rl.Result.Err != nil {
			fmt.Fprintf(w, "%s %s\n", s.Err.Sprint("failed:"), Printable(rl.Result.Err.Error()))
		} else {
			fmt.Fprintf(w, "ok (%s)\n", rl.Result.Duration.Round(time.Millisecond))
		}
		output(w, rl.Result.Output)
	}
	fmt.Fprintln(w, ApplySummary(r))
}

// Applied prints the end of apply: for a plan from a file, the line that
// names it; then, when anything changed or failed, what apply did (Apply),
// below a blank line after the plan that apply showed itself.
func Applied(w io.Writer, s *Style, p *plan.Plan, r *apply.Result, planFile string) {
	if planFile != "" {
		fmt.Fprintf(w, "Applying plan %s (etcd revision %d).\n", planFile, p.Revision)
	}
	if p.HasChanges() || r.Failed() {
		if planFile == "" {
			fmt.Fprintln(w)
		}
		Apply(w, s, p, r)
	}
}

// Recovered prints what was done about targets an interrupted apply left
// installed before their check.
func Recovered(w io.Writer, s *Style, rs []apply.Recovered) {
	for _, r := range rs {
		fmt.Fprintf(w, "%s %s  %s  %s\n", s.Warn.Sprint("!"), s.Bold.Sprint(Printable(r.ID)), Printable(r.Target), Printable(r.Note))
	}
	if len(rs) > 0 {
		fmt.Fprintln(w)
	}
}

// permissionHint says what to do about a target whose directory refused
// reconfig: a new file is written beside the target, then renamed over it.
func permissionHint(o *apply.Outcome) string {
	if o.Err == nil || !errors.Is(o.Err, fs.ErrPermission) {
		return ""
	}
	return fmt.Sprintf("reconfig writes a temporary file in %s and renames it over the target: run it as a user that may write there (it runs as uid %d), or give that user the directory", filepath.Dir(o.Target), os.Geteuid())
}

func errText(o *apply.Outcome) string {
	if o.Err != nil {
		return o.Err.Error()
	}
	return "failed"
}

func command(w io.Writer, s *Style, what string, c *apply.CommandResult) {
	if c == nil {
		return
	}
	if c.Err == nil {
		fmt.Fprintf(w, "  %s: ok (%s)\n", what, c.Duration.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(w, "  %s: %s %s\n", what, s.Err.Sprint("failed:"), Printable(c.Err.Error()))
	output(w, c.Output)
}

func output(w io.Writer, out string) {
	out = strings.TrimRight(out, "\n")
	if out == "" {
		return
	}
	for _, l := range printableLines(out) {
		fmt.Fprintf(w, "    | %s\n", l)
	}
}

// ApplySummary is apply's last line.
func ApplySummary(r *apply.Result) string {
	sum := r.Summary()
	line := fmt.Sprintf("Apply complete: %d created, %d updated", sum.Created, sum.Updated)
	if sum.Deleted > 0 {
		line += fmt.Sprintf(", %d deleted", sum.Deleted)
	}
	return line + fmt.Sprintf(", %d failed, %d skipped. (etcd revision %d)", sum.Failed, sum.Skipped, r.Revision)
}

type jsonApplySum struct {
	Created int  `json:"created"`
	Updated int  `json:"updated"`
	Deleted int  `json:"deleted"`
	Failed  int  `json:"failed"`
	Skipped int  `json:"skipped"`
	OK      bool `json:"ok"`
}

type jsonOutcome struct {
	Changed    bool         `json:"changed"`
	Error      string       `json:"error,omitempty"`
	CreatedDir string       `json:"created_dir,omitempty"`
	Check      *jsonCommand `json:"check,omitempty"`
	Reload     *jsonCommand `json:"reload,omitempty"`
}

type jsonCommand struct {
	Command    string `json:"command"`
	ExitCode   int    `json:"exit_code"`
	OK         bool   `json:"ok"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	Output     string `json:"output,omitempty"`
	Error      string `json:"error,omitempty"`
}

type jsonReloadView struct {
	IDs    []string     `json:"ids"`
	Result *jsonCommand `json:"result"`
}

func cmdJSON(c *apply.CommandResult) *jsonCommand {
	if c == nil {
		return nil
	}
	j := &jsonCommand{Command: c.Command, ExitCode: c.ExitCode, OK: c.Err == nil, TimedOut: c.TimedOut,
		DurationMS: c.Duration.Milliseconds(), Output: c.Output}
	if c.Err != nil {
		j.Error = c.Err.Error()
	}
	return j
}

// ApplyJSON prints the plan and what apply did as one JSON document.
func ApplyJSON(w io.Writer, p *plan.Plan, r *apply.Result) error {
	out := planJSON(p)
	sum := r.Summary()
	out.Applied = &jsonApplySum{Created: sum.Created, Updated: sum.Updated, Deleted: sum.Deleted,
		Failed: sum.Failed, Skipped: sum.Skipped, OK: sum.Failed == 0}
	for i := range out.Changes {
		// One outcome per change, in plan order.
		if i >= len(r.Outcomes) {
			break
		}
		o := r.Outcomes[i]
		jo := &jsonOutcome{Changed: o.Changed, CreatedDir: o.CreatedDir, Check: cmdJSON(o.Check), Reload: cmdJSON(o.Reload)}
		if o.Failed() {
			jo.Error = errText(o)
		}
		out.Changes[i].Result = jo
	}
	for _, rl := range r.Reloads {
		out.Reloads = append(out.Reloads, jsonReloadView{IDs: rl.IDs, Result: cmdJSON(rl.Result)})
	}
	return writeJSON(w, out)
}

package view

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/reconfig/reconfig/plan"
)

// PlanOptions tune the human plan view.
type PlanOptions struct {
	// MaxDiffLines is how many lines of each diff are shown (0: all); the
	// rest is counted.
	MaxDiffLines int
	// Baseline, when set, makes the plan a comparison (engine.Compare)
	// with the configuration directory it names: Before is the baseline's
	// render, not a target.
	Baseline string
}

// DefaultDiffLines is how many lines of one target's diff a terminal
// shows. A config file people review line by line is rarely longer (an
// nginx or haproxy config of a few hundred backends fits), while a value of
// megabytes (66,000 lines for 5 MB) would scroll for seconds and push the
// rest of the plan out of reach; past it, the diff is cut and the lines
// left out counted. Output to a pipe or a file is not cut by default.
const DefaultDiffLines = 1000

func symbol(s *Style, a plan.Action) string {
	switch a {
	case plan.Create:
		return s.Add.Sprint("+")
	case plan.Update:
		return s.Mod.Sprint("~")
	case plan.Delete:
		return s.Del.Sprint("-")
	}
	return " "
}

// Plan prints the plan for people: each change with its diff, then the
// skipped, failed and orphaned bindings with their reasons, then the
// summary line.
func Plan(w io.Writer, s *Style, p *plan.Plan) { PlanWith(w, s, p, PlanOptions{}) }

// PlanWith prints the plan as Plan does, tuned by o.
func PlanWith(out io.Writer, s *Style, p *plan.Plan, o PlanOptions) {
	// A plan is thousands of lines: one write per line would cost a
	// system call each, before apply writes anything.
	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	for _, ch := range p.Changes {
		if !ch.Action.Changes() {
			continue
		}
		var head string
		if o.Baseline != "" {
			// The reason says what the comparison found.
			head = fmt.Sprintf("%s %s  %s  (%s)", symbol(s, ch.Action), s.Bold.Sprint(Printable(ch.ID)), Printable(ch.Target), Printable(ch.Reason))
			if ch.AttrChange != "" {
				head += "  " + Printable(ch.AttrChange)
			}
		} else {
			tags := []string{string(ch.Action)}
			if ch.Drift {
				tags = append(tags, "drift")
			}
			head = fmt.Sprintf("%s %s  %s  (%s)", symbol(s, ch.Action), s.Bold.Sprint(Printable(ch.ID)), Printable(ch.Target), strings.Join(tags, ", "))
			if ch.AttrChange != "" {
				head += "  " + Printable(ch.AttrChange)
			}
			if ch.Reason != "" {
				head += "  " + s.Dim.Sprint("("+Printable(ch.Reason)+")")
			}
		}
		fmt.Fprintln(w, head)
		for _, warning := range ch.Warnings {
			fmt.Fprintf(w, "  %s %s\n", s.Warn.Sprint("warning:"), Printable(warning))
		}
		switch {
		case ch.Action == plan.Delete && ch.BeforeHash == "" && o.Baseline != "":
			fmt.Fprintln(w, s.Dim.Sprint("  (the baseline does not render it either)"))
		case ch.Action == plan.Delete && ch.BeforeHash == "":
			fmt.Fprintln(w, s.Dim.Sprint("  (the file is already gone; its state record is removed)"))
		case ch.Sensitive && ch.Action == plan.Delete:
			fmt.Fprintln(w, "  (sensitive content, not shown)")
		case ch.Sensitive:
			if ch.BeforeHash != ch.AfterHash {
				fmt.Fprintln(w, "  (sensitive content changed)")
			}
		case !beforeKnown(ch):
			fmt.Fprintln(w, s.Dim.Sprint("  (the plan file does not hold the old content, so no diff is shown; a plan saved by this version does)"))
		default:
			writeDiff(w, s, ch, p.Revision, o)
		}
		fmt.Fprintln(w)
	}
	listed := func(title string, a plan.Action) {
		first := true
		for _, ch := range p.Changes {
			if ch.Action != a {
				continue
			}
			if first {
				fmt.Fprintln(w, title)
				first = false
			}
			fmt.Fprintf(w, "  %s  %s: %s\n", s.Bold.Sprint(Printable(ch.ID)), Printable(ch.Target), Printable(ch.Reason))
		}
		if !first {
			fmt.Fprintln(w)
		}
	}
	listed(s.Mod.Sprint("Skipped:"), plan.Skip)
	listed(s.Err.Sprint("Failed:"), plan.Fail)
	listed(s.Dim.Sprint("Orphaned (recorded in state, no binding writes them now):"), plan.Orphan)
	// Warnings of the targets that do not change (those that do carry
	// theirs under their header).
	first := true
	for _, ch := range p.Changes {
		if ch.Action.Changes() || len(ch.Warnings) == 0 {
			continue
		}
		if first {
			fmt.Fprintln(w, s.Warn.Sprint("Warnings:"))
			first = false
		}
		for _, warning := range ch.Warnings {
			fmt.Fprintf(w, "  %s  %s: %s\n", s.Bold.Sprint(Printable(ch.ID)), Printable(ch.Target), Printable(warning))
		}
	}
	if !first {
		fmt.Fprintln(w)
	}
	if o.Baseline != "" {
		fmt.Fprintln(w, CompareSummary(p, o.Baseline))
		return
	}
	fmt.Fprintln(w, Summary(p))
}

// beforeKnown reports whether ch holds the old content its diff needs: a
// plan file written by an older reconfig has only its hash.
func beforeKnown(ch *plan.Change) bool {
	return ch.BeforeHash == "" || plan.Hash(ch.Before) == ch.BeforeHash
}

func writeDiff(w io.Writer, s *Style, ch *plan.Change, rev int64, o PlanOptions) {
	from := ch.Target
	var before []byte
	if ch.BeforeHash == "" {
		from = "/dev/null"
	} else {
		before = ch.Before
		if o.Baseline != "" {
			from = ch.Target + " (baseline)"
		}
	}
	to := fmt.Sprintf("%s (rendered at revision %d)", ch.Target, rev)
	if ch.Action == plan.Delete {
		to = "/dev/null"
	}
	d := Diff(from, to, before, ch.After)
	// The two header lines, then at most MaxDiffLines of hunks.
	lines := splitLines(d)
	for i, line := range lines {
		if o.MaxDiffLines > 0 && i == 2+o.MaxDiffLines {
			left := len(lines) - i
			fmt.Fprintln(w, s.Dim.Sprint(fmt.Sprintf("… %d more line%s not shown (--json has them all)", left, plural(left))))
			return
		}
		// The content is shown, not played: an escape sequence in a
		// value must not hide or forge lines of the diff under review.
		l := Printable(strings.TrimSuffix(line, "\n"))
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
			fmt.Fprintln(w, s.Bold.Sprint(l))
		case strings.HasPrefix(l, "@@"):
			fmt.Fprintln(w, s.Hunk.Sprint(l))
		case strings.HasPrefix(l, "+"):
			fmt.Fprintln(w, s.Add.Sprint(l))
		case strings.HasPrefix(l, "-"):
			fmt.Fprintln(w, s.Del.Sprint(l))
		default:
			fmt.Fprintln(w, l)
		}
	}
}

// Summary is the plan's last line.
func Summary(p *plan.Plan) string {
	c := p.Counts()
	if !p.HasChanges() && c[plan.Fail] == 0 {
		line := fmt.Sprintf("No changes. Targets match etcd revision %d.", p.Revision)
		if c[plan.Skip] > 0 {
			line = fmt.Sprintf("No changes. Targets match etcd revision %d (%d skipped).", p.Revision, c[plan.Skip])
		}
		return line
	}
	line := fmt.Sprintf("Plan: %d to create, %d to update, %d to delete, %d skipped", c[plan.Create], c[plan.Update], c[plan.Delete], c[plan.Skip])
	if c[plan.Fail] > 0 {
		line += fmt.Sprintf(", %d failed", c[plan.Fail])
	}
	return line + fmt.Sprintf(". (etcd revision %d)", p.Revision)
}

// CompareSummary is the last line of a comparison with baseline.
func CompareSummary(p *plan.Plan, baseline string) string {
	c := p.Counts()
	skipped := ""
	if c[plan.Skip] > 0 {
		skipped = fmt.Sprintf(" (%d skipped)", c[plan.Skip])
	}
	if !p.HasChanges() && c[plan.Fail] == 0 {
		return fmt.Sprintf("No changes. Every binding renders as with baseline %s at etcd revision %d%s.", Printable(baseline), p.Revision, skipped)
	}
	line := fmt.Sprintf("Compared with baseline %s: %d added, %d changed, %d removed, %d unchanged, %d skipped", Printable(baseline),
		c[plan.Create], c[plan.Update], c[plan.Delete], c[plan.NoOp], c[plan.Skip])
	if c[plan.Fail] > 0 {
		line += fmt.Sprintf(", %d failed", c[plan.Fail])
	}
	return line + fmt.Sprintf(". (etcd revision %d)", p.Revision)
}

// jsonPlan is the machine form of a plan (`plan --json`).
type jsonPlan struct {
	FormatVersion int              `json:"format_version"`
	Revision      int64            `json:"revision"`
	ClusterID     string           `json:"cluster_id,omitempty"`
	Prefix        string           `json:"prefix,omitempty"`
	Baseline      string           `json:"baseline,omitempty"`
	PlanFile      string           `json:"plan_file,omitempty"`
	CreatedAt     *time.Time       `json:"created_at,omitempty"`
	Changes       []jsonChange     `json:"bindings"`
	Summary       map[string]int   `json:"summary"`
	HasChanges    bool             `json:"has_changes"`
	Applied       *jsonApplySum    `json:"applied,omitempty"`
	Reloads       []jsonReloadView `json:"reloads,omitempty"`
}

type jsonChange struct {
	ID         string       `json:"id"`
	Target     string       `json:"target"`
	Action     plan.Action  `json:"action"`
	Drift      bool         `json:"drift"`
	Reason     string       `json:"reason,omitempty"`
	Skipped    string       `json:"skipped,omitempty"`
	Warnings   []string     `json:"warnings,omitempty"`
	Sensitive  bool         `json:"sensitive,omitempty"`
	AttrChange string       `json:"attr_change,omitempty"`
	BeforeHash string       `json:"before_sha256,omitempty"`
	AfterHash  string       `json:"after_sha256,omitempty"`
	Diff       *string      `json:"diff,omitempty"`
	Result     *jsonOutcome `json:"result,omitempty"`
}

func planJSON(p *plan.Plan) *jsonPlan {
	out := &jsonPlan{FormatVersion: 1, Revision: p.Revision, ClusterID: p.ClusterID, Prefix: p.Prefix,
		Changes: []jsonChange{}, HasChanges: p.HasChanges(), Summary: map[string]int{}}
	for a, n := range p.Counts() {
		out.Summary[string(a)] = n
	}
	for _, k := range []plan.Action{plan.Create, plan.Update, plan.Delete, plan.Skip, plan.Fail, plan.NoOp, plan.Orphan} {
		out.Summary[string(k)] += 0
	}
	for _, ch := range p.Changes {
		jc := jsonChange{ID: ch.ID, Target: ch.Target, Action: ch.Action, Drift: ch.Drift, Reason: ch.Reason, Skipped: string(ch.Skipped), Warnings: ch.Warnings,
			Sensitive: ch.Sensitive, AttrChange: ch.AttrChange, BeforeHash: ch.BeforeHash, AfterHash: ch.AfterHash}
		if ch.Sensitive {
			// A hash of a low-entropy secret is as good as the secret.
			jc.BeforeHash, jc.AfterHash = "", ""
		}
		if ch.Action.Changes() && !ch.Sensitive {
			from := ch.Target
			if ch.BeforeHash == "" {
				from = "/dev/null"
			}
			to := ch.Target
			if ch.Action == plan.Delete {
				to = "/dev/null"
			}
			d := Diff(from, to, ch.Before, ch.After)
			jc.Diff = &d
		}
		out.Changes = append(out.Changes, jc)
	}
	return out
}

// PlanJSON prints the plan as one JSON document.
func PlanJSON(w io.Writer, p *plan.Plan) error {
	return writeJSON(w, planJSON(p))
}

func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

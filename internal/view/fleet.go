package view

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/reconfig/reconfig/internal/fleet"
)

// FleetStatus is the output of `fleet status`.
type FleetStatus interface {
	// Report shows the fleet judged against the report's revision.
	Report(r *fleet.Report) error
}

// NewFleetStatus returns the human view (a line per host, then the
// summary and the hold) or the JSON view (the report as one document).
func NewFleetStatus(v *View, asJSON bool) FleetStatus {
	if asJSON {
		return fleetStatusJSON{v}
	}
	return fleetStatusHuman{v}
}

type fleetStatusHuman struct{ *View }

var _ FleetStatus = fleetStatusHuman{}

func (v fleetStatusHuman) Report(r *fleet.Report) error {
	if !r.Barrier {
		v.FleetNoBarrier(r.Revision, r.BarrierError)
	}
	w, s := v.stdout, v.style
	if len(r.Hosts) == 0 {
		fmt.Fprintf(w, "No host reports under %s%s.\n", Printable(r.Prefix), groupSuffix(r.Group))
	} else {
		fleetTable(w, s, r.Hosts)
	}
	fmt.Fprintln(w, fleetSummary(s, r.Summary, r.Revision))
	if r.Hold != nil {
		fmt.Fprintln(w, holdLine(s, r.Hold))
	}
	return nil
}

type fleetStatusJSON struct{ *View }

var _ FleetStatus = fleetStatusJSON{}

func (v fleetStatusJSON) Report(r *fleet.Report) error { return writeJSON(v.stdout, r) }

// FleetNoBarrier warns that no barrier could be written, so hosts are
// judged against the revision the fleet was read at.
func (v *View) FleetNoBarrier(rev int64, why string) {
	Warning(v.stderr, v.style, "could not write the barrier (%s): hosts are judged against revision %d, when the fleet was read, and a host none of whose keys changed since its last report shows as behind", why, rev)
}

// FleetWaitNoBarrier warns that no barrier could be written, so hosts
// none of whose keys changed do not report a newer revision.
func (v *View) FleetWaitNoBarrier(why string) {
	Warning(v.stderr, v.style, "could not write the barrier (%s): a host none of whose keys changed since its last report does not report a newer revision, and the wait may time out on it", why)
}

// fleetTable prints a line per host — name, group, revision, lag, state,
// last report age — and under it its failing bindings, its problem and
// the daemons that claim its name when there are several.
func fleetTable(w io.Writer, s *Style, hosts []fleet.HostReport) {
	head := []string{"HOST", "GROUP", "REVISION", "LAG", "STATE", "REPORTED"}
	rows := [][]string{head}
	for _, h := range hosts {
		rows = append(rows, []string{Printable(h.Name), Printable(h.Group), fmt.Sprint(h.At), fmt.Sprint(h.Lag), string(h.State), reportAge(h)})
	}
	width := make([]int, len(head))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(row []string, state fleet.State) string {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			switch {
			case i == 4 && state != "":
				c = statePaint(s, state).Sprint(c)
			case i == 0 && state == "":
				c = s.Bold.Sprint(c)
			}
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(pad + "  ")
			}
		}
		return b.String()
	}
	fmt.Fprintln(w, line(head, ""))
	for i, h := range hosts {
		fmt.Fprintln(w, line(rows[i+1], h.State))
		for _, f := range h.Failing {
			fmt.Fprintf(w, "  %s %s (%s): %s\n", s.Err.Sprint("failed:"), Printable(f.ID), Printable(f.Target), Printable(f.Error))
		}
		if h.Counts.Failed > len(h.Failing) {
			fmt.Fprintf(w, "  %s %d more failed binding%s, left out of the status for its size\n", s.Err.Sprint("failed:"), h.Counts.Failed-len(h.Failing), plural(h.Counts.Failed-len(h.Failing)))
		}
		if !h.Healthy {
			problem := h.Problem
			if problem == "" {
				problem = "the daemon reports it is not healthy"
			}
			fmt.Fprintf(w, "  %s %s\n", s.Err.Sprint("unhealthy:"), Printable(problem))
		}
		if h.Held != "" {
			fmt.Fprintf(w, "  %s %s\n", s.Warn.Sprint("held:"), Printable(h.Held))
		}
		if len(h.Claims) > 0 {
			fmt.Fprintf(w, "  %s %d daemons claim this name:\n", s.Warn.Sprint("duplicate:"), len(h.Claims))
			for _, c := range h.Claims {
				fmt.Fprintf(w, "    %s\n", Printable(c.String()))
			}
		}
	}
}

func statePaint(s *Style, st fleet.State) Paint {
	switch st {
	case fleet.StateOK:
		return s.Add
	case fleet.StateFailed:
		return s.Err
	case fleet.StateHeld:
		return s.Warn
	}
	return s.Mod
}

// reportAge says how long ago a host reported.
func reportAge(h fleet.HostReport) string {
	if h.Reported.IsZero() {
		return "never"
	}
	return shortDuration(h.Age) + " ago"
}

// shortDuration is d to the second, in at most two units (42s, 3m05s,
// 2h10m), or in days from two days on (3d).
func shortDuration(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// fleetSummary is the summary line: Fleet: 212 hosts, 209 at revision
// 8812, 2 behind, 1 failed.
func fleetSummary(s *Style, sum fleet.Summary, rev int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Fleet: %d host%s, %d at revision %d, %d behind, %d failed", sum.Hosts, plural(sum.Hosts), sum.OK, rev, sum.Behind, sum.Failed)
	if sum.Held > 0 {
		fmt.Fprintf(&b, ", %d held", sum.Held)
	}
	b.WriteString(".")
	return s.Bold.Sprint(b.String())
}

// holdLine says who holds the fleet, since when and why.
func holdLine(s *Style, h *fleet.Hold) string {
	who := "someone"
	if h.User != "" || h.Host != "" {
		who = Printable(h.User) + " on " + Printable(h.Host)
	}
	since := "an unknown time"
	if !h.Since.IsZero() {
		since = h.Since.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s since %s by %s: %s. Release with `reconfig fleet release`.", s.Warn.Sprint("Held"), since, who, Printable(h.Describe()))
}

func groupSuffix(group string) string {
	if group == "" {
		return ""
	}
	return " in group " + Printable(group)
}

// FleetWait is the output of `fleet wait`: one outcome when it ends.
type FleetWait interface {
	// Ended shows how the wait ended.
	Ended(v fleet.Verdict) error
}

// NewFleetWait returns the human or the JSON view of fleet wait.
func NewFleetWait(v *View, asJSON bool) FleetWait {
	if asJSON {
		return fleetWaitJSON{v}
	}
	return fleetWaitHuman{v}
}

type fleetWaitHuman struct{ *View }

var _ FleetWait = fleetWaitHuman{}

func (v fleetWaitHuman) Ended(r fleet.Verdict) error {
	w, s := v.stdout, v.style
	took := elapsed(r.Elapsed)
	scope := fmt.Sprintf("%d host%s%s", r.Live, plural(r.Live), groupSuffix(r.Group))
	switch r.Outcome {
	case fleet.Converged:
		wanted := ""
		if r.MinHosts > 1 {
			wanted = fmt.Sprintf(" (at least %d wanted)", r.MinHosts)
		}
		fmt.Fprintf(w, "%s %s at revision %d%s, after %s.\n", s.Add.Sprint("Converged:"), scope, r.Revision, wanted, took)
	case fleet.FailedAt:
		first := r.Failed[0]
		fmt.Fprintf(w, "%s host %s at revision %d: %s\n", s.Err.Sprint("Failed:"), Printable(first.Name), first.At, failureText(first))
		for _, h := range r.Failed[1:] {
			fmt.Fprintf(w, "  also host %s at revision %d: %s\n", Printable(h.Name), h.At, failureText(h))
		}
		fmt.Fprintf(w, "%d of %s at revision %d, %d failed, %d behind, after %s.\n", r.At, scope, r.Revision, len(r.Failed), len(r.Behind), took)
	default:
		what := "Timed out"
		if r.Outcome != fleet.TimedOut {
			what = "Stopped"
		}
		fmt.Fprintf(w, "%s after %s: %d of %s at revision %d.\n", s.Mod.Sprint(what), took, r.At, scope, r.Revision)
		if r.Live < r.MinHosts {
			fmt.Fprintf(w, "  only %d live host%s, fewer than --min-hosts %d\n", r.Live, plural(r.Live), r.MinHosts)
		}
		for _, h := range r.Behind {
			where := fmt.Sprintf("at revision %d, %d behind", h.At, h.Lag)
			if h.Held != "" {
				where += ", " + s.Warn.Sprint("held") + ": " + Printable(h.Held)
			}
			if h.State == fleet.StateFailed {
				where += ", failing: " + failureText(h)
			}
			fmt.Fprintf(w, "  %s %s, reported %s\n", Printable(h.Name), where, reportAge(h))
		}
	}
	if r.Hold != nil {
		fmt.Fprintln(w, holdLine(s, r.Hold))
	}
	return nil
}

// elapsed is how long a wait took: milliseconds below a second, then
// tenths.
func elapsed(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}

// failureText is what failed on a host: its first failing binding (and
// how many more), or its problem.
func failureText(h fleet.HostReport) string {
	if len(h.Failing) > 0 {
		f := h.Failing[0]
		text := fmt.Sprintf("binding %s (%s): %s", Printable(f.ID), Printable(f.Target), Printable(f.Error))
		if n := max(h.Counts.Failed, len(h.Failing)) - 1; n > 0 {
			text += fmt.Sprintf(" (and %d more failed binding%s)", n, plural(n))
		}
		return text
	}
	if h.Counts.Failed > 0 {
		return fmt.Sprintf("%d failed binding%s, left out of the status for its size", h.Counts.Failed, plural(h.Counts.Failed))
	}
	if h.Problem != "" {
		return "unhealthy: " + Printable(h.Problem)
	}
	return "unhealthy"
}

type fleetWaitJSON struct{ *View }

var _ FleetWait = fleetWaitJSON{}

func (v fleetWaitJSON) Ended(r fleet.Verdict) error {
	r.ElapsedSeconds = r.Elapsed.Seconds()
	return writeJSON(v.stdout, r)
}

// FleetHeld says the fleet under prefix is held; replaced is the hold it
// replaced (nil: none).
func (v *View) FleetHeld(prefix string, h fleet.Hold, replaced *fleet.Hold) {
	w, s := v.stdout, v.style
	if replaced != nil {
		fmt.Fprintf(w, "Replaced the hold of %s by %s on %s since %s (%s).\n", Printable(prefix), Printable(replaced.User), Printable(replaced.Host),
			replaced.Since.UTC().Format(time.RFC3339), Printable(replaced.Describe()))
	}
	fmt.Fprintf(w, "%s the fleet under %s: %s. Every --fleet daemon applies nothing new until `reconfig fleet release`.\n",
		s.Warn.Sprint("Held"), Printable(prefix), Printable(h.Describe()))
}

// FleetPromoted says the followers may apply up to p's revision.
func (v *View) FleetPromoted(prefix string, p fleet.Promote) {
	fmt.Fprintf(v.stdout, "%s the followers under %s to revision %d: each applies it without waiting for its canaries.\n",
		v.style.Warn.Sprint("Promoted"), Printable(prefix), p.Revision)
}

// FleetReleased says the hold h was released (nil: nothing was held).
func (v *View) FleetReleased(prefix string, h *fleet.Hold) {
	if h == nil {
		fmt.Fprintf(v.stdout, "The fleet under %s was not held: nothing to release.\n", Printable(prefix))
		return
	}
	since := "an unknown time"
	if !h.Since.IsZero() {
		since = h.Since.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(v.stdout, "Released the fleet under %s, held since %s by %s on %s (%s): every --fleet daemon applies the latest now.\n",
		Printable(prefix), since, Printable(h.User), Printable(h.Host), Printable(h.Describe()))
}

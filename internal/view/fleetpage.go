package view

import (
	"fmt"
	"io"

	"github.com/reconfig/reconfig/internal/fleet"
)

// FleetReportJSON writes a fleet report as `fleet status --json` prints
// it: the page's /api/fleet is that document.
func FleetReportJSON(w io.Writer, r *fleet.Report) error { return writeJSON(w, r) }

// FleetPageServing tells where `fleet serve` serves the page; exposed
// says the address is not loopback, which deserves a warning.
func (v *View) FleetPageServing(url, prefix, group string, exposed bool) {
	what := "every group"
	if group != "" {
		what = "group " + Printable(group)
	}
	fmt.Fprintf(v.stdout, "%s the fleet under %s (%s) on %s — read-only; Ctrl-C stops it.\n",
		v.style.Bold.Sprint("Serving"), Printable(prefix), what, url)
	if exposed {
		Warning(v.stderr, v.style, "the page listens beyond loopback without authentication: anyone who reaches %s sees every host's name, targets and errors; put it behind a proxy that authenticates (README: \"The fleet page\")", url)
	}
}

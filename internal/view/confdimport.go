package view

import (
	"encoding/json"
	"fmt"

	"github.com/reconfig/reconfig/internal/confdimport"
)

// ConfdImport shows what `import confd` wrote and what needs a hand.
type ConfdImport interface {
	// Imported reports the import imp, written; invalid is what
	// `reconfig validate` finds in the configuration directory now (nil
	// when it passes).
	Imported(imp *confdimport.Import, invalid error) error
}

// NewConfdImport returns the human or the JSON view of import confd.
func NewConfdImport(v *View, asJSON bool) ConfdImport {
	if asJSON {
		return confdImportJSON{v}
	}
	return confdImportHuman{v}
}

type confdImportHuman struct{ *View }

var _ ConfdImport = confdImportHuman{}

func (v confdImportHuman) Imported(imp *confdimport.Import, invalid error) error {
	w, s := v.stdout, v.style
	n := len(imp.Resources)
	fmt.Fprintf(w, "Imported %d confd template resource%s from %s into %s.\n", n, plural(n), Printable(imp.ConfDir), Printable(imp.CfgDir))
	hands := 0
	for _, r := range imp.Resources {
		fmt.Fprintf(w, "\n%s  %s → %s, %s\n", s.Bold.Sprint(Printable(r.ID)), Printable(r.File), Printable(r.Binding), Printable(r.Template))
		for _, m := range r.Mapped {
			fmt.Fprintf(w, "  %-10s  %s\n", m.From, Printable(m.To))
		}
		if len(r.Hand) == 0 {
			continue
		}
		hands++
		fmt.Fprintf(w, "  %s\n", s.Warn.Sprint("needs a hand:"))
		for _, p := range r.Hand {
			if p.Where != "" {
				fmt.Fprintf(w, "    %s: %s\n", Printable(p.Where), Printable(p.Msg))
			} else {
				fmt.Fprintf(w, "    %s\n", Printable(p.Msg))
			}
		}
	}
	fmt.Fprintln(w)
	for _, note := range imp.Notes {
		fmt.Fprintf(w, "Note: %s.\n", Printable(note))
	}
	if imp.Prefix != "" {
		fmt.Fprintf(w, "Run reconfig with --prefix %s (or RECONFIG_PREFIX=%s): confd read every key under it (%s).\n", Printable(imp.Prefix), Printable(imp.Prefix), imp.PrefixFrom)
	}
	if hands > 0 {
		fmt.Fprintf(w, "%s %d of %d resource%s need%s a hand (listed above).\n", s.Warn.Sprint("Warning:"), hands, n, plural(n), map[bool]string{true: "s"}[hands == 1])
	}
	if invalid != nil {
		fmt.Fprintf(w, "%s reconfig validate finds problems in %s until then:\n", s.Err.Sprint("Not valid yet:"), Printable(imp.CfgDir))
		for _, l := range printableLines(invalid.Error()) {
			fmt.Fprintf(w, "  %s\n", l)
		}
		return nil
	}
	fmt.Fprintf(w, "The bindings are valid. Next: reconfig -c %s plan\n", Printable(imp.CfgDir))
	return nil
}

type confdImportJSON struct{ *View }

var _ ConfdImport = confdImportJSON{}

func (v confdImportJSON) Imported(imp *confdimport.Import, invalid error) error {
	out := struct {
		*confdimport.Import
		Files []string `json:"files"`
		Valid bool     `json:"valid"`
		// Problems are what validate finds.
		Problems []string `json:"problems,omitempty"`
	}{Import: imp, Files: imp.Files(), Valid: invalid == nil}
	if invalid != nil {
		out.Problems = printableLines(invalid.Error())
	}
	enc := json.NewEncoder(v.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

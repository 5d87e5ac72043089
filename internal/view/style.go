package view

import (
	"github.com/fatih/color"
)

// Style colors output, or not.
type Style struct {
	Add, Del, Mod, Hunk, Bold, Dim, Warn, Err *color.Color
}

// NewStyle returns the colors of reconfig's output; enabled false prints
// plain text.
func NewStyle(enabled bool) *Style {
	s := &Style{
		Add:  color.New(color.FgGreen),
		Del:  color.New(color.FgRed),
		Mod:  color.New(color.FgYellow),
		Hunk: color.New(color.FgCyan),
		Bold: color.New(color.Bold),
		Dim:  color.New(color.Faint),
		Warn: color.New(color.FgYellow, color.Bold),
		Err:  color.New(color.FgRed, color.Bold),
	}
	for _, c := range []*color.Color{s.Add, s.Del, s.Mod, s.Hunk, s.Bold, s.Dim, s.Warn, s.Err} {
		if enabled {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return s
}

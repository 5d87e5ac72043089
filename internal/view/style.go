package view

import (
	"github.com/fatih/color"
)

// Style colors output, or not. Its colors are Paints, so that fatih/color
// stays inside this package.
type Style struct {
	Add, Del, Mod, Hunk, Bold, Dim, Warn, Err Paint
}

// Paint is one color of a Style.
type Paint struct{ c *color.Color }

// Sprint returns the text of a in the paint's color (plain when color is
// off).
func (p Paint) Sprint(a ...any) string { return p.c.Sprint(a...) }

// NewStyle returns the colors of reconfig's output; enabled false prints
// plain text.
func NewStyle(enabled bool) *Style {
	paint := func(attrs ...color.Attribute) Paint {
		c := color.New(attrs...)
		if enabled {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return Paint{c}
	}
	return &Style{
		Add:  paint(color.FgGreen),
		Del:  paint(color.FgRed),
		Mod:  paint(color.FgYellow),
		Hunk: paint(color.FgCyan),
		Bold: paint(color.Bold),
		Dim:  paint(color.Faint),
		Warn: paint(color.FgYellow, color.Bold),
		Err:  paint(color.FgRed, color.Bold),
	}
}

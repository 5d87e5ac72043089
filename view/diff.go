package view

import (
	"fmt"
	"strings"

	"github.com/hexops/gotextdiff"
	"github.com/hexops/gotextdiff/myers"
	"github.com/hexops/gotextdiff/span"
)

// Diff returns the unified diff of a target's content, "" when equal. It
// is the one use of gotextdiff (archived upstream), kept behind this
// function so it can be replaced.
func Diff(fromLabel, toLabel string, before, after []byte) string {
	if string(before) == string(after) {
		return ""
	}
	edits := myers.ComputeEdits(span.URIFromPath(toLabel), string(before), string(after))
	d := fmt.Sprint(gotextdiff.ToUnified(fromLabel, toLabel, string(before), edits))
	// A side with no lines is "0,0" in a unified diff (diff -u, git);
	// gotextdiff writes "1".
	if len(before) == 0 {
		d = strings.Replace(d, "\n@@ -1 +", "\n@@ -0,0 +", 1)
	}
	if len(after) == 0 {
		if i := strings.Index(d, "\n@@ "); i >= 0 {
			if j := strings.Index(d[i:], " +1 @@"); j >= 0 {
				d = d[:i+j] + " +0,0 @@" + d[i+j+len(" +1 @@"):]
			}
		}
	}
	return d
}

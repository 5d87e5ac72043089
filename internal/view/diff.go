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
	edits := computeEdits(toLabel, string(before), string(after))
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

// maxDiffWork bounds the work of gotextdiff's Myers diff, which copies its
// whole trace at every step: its cost grows with the changed lines times
// all lines, so a 1 MiB target created or rewritten took minutes. Past the
// bound, the changed middle of the file (between the lines both versions
// share at the start and the end) is shown as one replacement.
const maxDiffWork = 1 << 24

func computeEdits(label, before, after string) []gotextdiff.TextEdit {
	uri := span.URIFromPath(label)
	a, b := splitLines(before), splitLines(after)
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	midA, midB := a[pre:len(a)-suf], b[pre:len(b)-suf]
	// A lower bound of the edit distance: the lines of either side that
	// the other lacks.
	count := map[string]int{}
	for _, l := range midA {
		count[l]++
	}
	for _, l := range midB {
		count[l]--
	}
	d := 0
	for _, n := range count {
		d += max(n, -n)
	}
	if d*(len(a)+len(b)) <= maxDiffWork {
		return myers.ComputeEdits(uri, before, after)
	}
	end := len(a) - suf
	var edits []gotextdiff.TextEdit
	if len(midA) > 0 {
		edits = append(edits, gotextdiff.TextEdit{Span: span.New(uri, span.NewPoint(pre+1, 1, 0), span.NewPoint(end+1, 1, 0))})
	}
	if len(midB) > 0 {
		edits = append(edits, gotextdiff.TextEdit{Span: span.New(uri, span.NewPoint(end+1, 1, 0), span.NewPoint(end+1, 1, 0)),
			NewText: strings.Join(midB, "")})
	}
	return edits
}

// splitLines splits text after each newline, as gotextdiff does.
func splitLines(text string) []string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

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
// whole trace at every step: its cost grows with the edit distance (the
// lines to delete and insert) times all lines, so a 1 MiB target created
// or rewritten, or 20,000 lines put in another order, took minutes. Past
// the bound, the changed middle of the file (between the lines both
// versions share at the start and the end) is shown as one replacement.
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
	// The same lines in another order are no lower bound at all: the
	// distance itself is measured, up to what the bound allows.
	if d*(len(a)+len(b)) <= maxDiffWork && withinDistance(midA, midB, maxDiffWork/max(len(a)+len(b), 1)) {
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

// withinDistance reports whether a turns into b by deleting and inserting
// at most limit lines: Myers' greedy forward search, in linear space, for
// up to limit steps of about len(a)+len(b) comparisons each.
func withinDistance(a, b []string, limit int) bool {
	// Lines as numbers: one map lookup each, then comparisons of ints.
	ids := map[string]int{}
	num := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	x1, y1 := num(a), num(b)
	n, m := len(x1), len(y1)
	limit = min(limit, n+m)
	// v[off+k] is the furthest x reached on diagonal k = x-y.
	off := limit + 1
	v := make([]int, 2*limit+3)
	for d := 0; d <= limit; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert a line of b
			} else {
				x = v[off+k-1] + 1 // right: delete a line of a
			}
			y := x - k
			for x < n && y < m && x1[x] == y1[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return true
			}
		}
	}
	return false
}

// splitLines splits text after each newline, as gotextdiff does.
func splitLines(text string) []string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

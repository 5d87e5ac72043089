package view

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// applyUnified applies a unified diff to before, checking every context
// and removed line.
func applyUnified(t *testing.T, before, diff string) string {
	t.Helper()
	old := strings.SplitAfter(before, "\n")
	if old[len(old)-1] == "" {
		old = old[:len(old)-1]
	}
	var out []string
	next := 0 // next line of old to copy
	lines := strings.SplitAfter(diff, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "@@ -") {
			continue
		}
		from := strings.Fields(l)[1][1:]
		start, _ := strconv.Atoi(strings.Split(from, ",")[0])
		if strings.HasSuffix(from, ",0") {
			start++ // "-0,0": insert before line 1
		}
		out = append(out, old[next:start-1]...)
		next = start - 1
		for i+1 < len(lines) && lines[i+1] != "" && !strings.HasPrefix(lines[i+1], "@@") {
			i++
			body := lines[i][1:]
			switch lines[i][0] {
			case ' ', '-':
				if next >= len(old) || old[next] != body {
					t.Fatalf("diff line %q does not match line %d of the old text", lines[i], next+1)
				}
				if lines[i][0] == ' ' {
					out = append(out, body)
				}
				next++
			case '+':
				out = append(out, body)
			}
		}
	}
	return strings.Join(append(out, old[next:]...), "")
}

func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// reversed is text with its lines in reverse order.
func reversed(text string) string {
	lines := strings.SplitAfter(text, "\n")
	lines = lines[:len(lines)-1]
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return strings.Join(lines, "")
}

// Large targets — a 1 MiB file created or deleted, 20,000 lines rewritten
// or reversed — get a correct diff without the quadratic cost of the Myers diff (that
// took minutes); small changes in a large file still get a minimal one.
func TestDiffLargeTargets(t *testing.T) {
	big := strings.Repeat("0123456789abcde\n", 1<<16)
	for _, tc := range []struct {
		name          string
		before, after string
		maxLines      int // lines of the diff at most, 0: any
	}{
		{"1 MiB created", "", big, 0},
		{"1 MiB deleted", big, "", 0},
		{"rewritten between a shared head and tail", numbered("h", 0, 100) + numbered("a", 0, 20000) + numbered("t", 0, 100),
			numbered("h", 0, 100) + numbered("b", 0, 20000) + numbered("t", 0, 100), 40010},
		{"two lines changed in 40,000", numbered("x", 0, 20000) + "old 1\n" + numbered("y", 0, 20000) + "old 2\n",
			numbered("x", 0, 20000) + "new 1\n" + numbered("y", 0, 20000) + "new 2\n", 20},
		// The same lines, so no line is missing from either side, yet
		// every one moved: a list sorted the other way.
		{"20,000 lines in reverse order", numbered("h", 0, 20000), reversed(numbered("h", 0, 20000)), 0},
		{"200 lines in reverse order among 40,000", numbered("x", 0, 20000) + numbered("m", 0, 200) + numbered("y", 0, 20000),
			numbered("x", 0, 20000) + reversed(numbered("m", 0, 200)) + numbered("y", 0, 20000), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Diff("a", "b", []byte(tc.before), []byte(tc.after))
			if got := applyUnified(t, tc.before, d); got != tc.after {
				t.Fatalf("the diff does not turn the old text into the new one (%d lines of diff)", strings.Count(d, "\n"))
			}
			if n := strings.Count(d, "\n"); tc.maxLines > 0 && n > tc.maxLines {
				t.Fatalf("diff of %d lines, want at most %d", n, tc.maxLines)
			}
		})
	}
}

package render

import "sort"

// FuncNames lists reconfig's template functions, sorted: not the
// builtins of text/template, even those it bounds.
func FuncNames() []string {
	var names []string
	for n := range funcStubs {
		if !builtinOverrides[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

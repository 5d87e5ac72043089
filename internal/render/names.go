package render

// builtins are text/template's own functions.
var builtins = map[string]bool{
	"and": true, "call": true, "html": true, "index": true, "slice": true, "js": true, "len": true,
	"not": true, "or": true, "print": true, "printf": true, "println": true, "urlquery": true,
	"eq": true, "ge": true, "gt": true, "le": true, "lt": true, "ne": true,
}

// HasFunc reports whether a template can call the function name: one of
// reconfig's functions or a text/template builtin. Tools that bring
// templates from elsewhere (import confd) ask it which calls need a hand.
func HasFunc(name string) bool {
	_, ok := funcStubs[name]
	return ok || builtins[name]
}

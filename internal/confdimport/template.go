package confdimport

import (
	"sort"
	"strings"
	"text/template/parse"

	"github.com/reconfig/reconfig/internal/render"
)

// call is one call of a function in a template.
type call struct {
	Func string
	Line int
	// Key is the literal first argument of a key function ("" when the
	// argument is computed or the function reads no key).
	Key string
}

// keyFuncs are confd's functions whose first argument is a key or a key
// pattern, read relative to the resource's prefix.
var keyFuncs = map[string]bool{
	"getv": true, "getvs": true, "get": true, "gets": true, "ls": true, "lsdir": true, "exists": true,
	"cget": true, "cgets": true, "cgetv": true, "cgetvs": true,
}

// scan parses a confd template (always "{{ }}") and lists its function
// calls in order. A template that does not parse is returned as the error.
func scan(name, text string) ([]call, error) {
	trees := map[string]*parse.Tree{}
	t := parse.New(name)
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(text, "", "", trees); err != nil {
		return nil, err
	}
	var calls []call
	line := func(pos parse.Pos) int { return 1 + strings.Count(text[:int(pos)], "\n") }
	var walk func(n parse.Node)
	walkPipe := func(p *parse.PipeNode) {
		if p == nil {
			return
		}
		for _, c := range p.Cmds {
			walk(c)
		}
	}
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walkPipe(n.Pipe)
		case *parse.IfNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walkPipe(n.Pipe)
		case *parse.PipeNode:
			walkPipe(n)
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.CommandNode:
			args := n.Args
			if len(args) > 0 {
				if id, ok := args[0].(*parse.IdentifierNode); ok {
					c := call{Func: id.Ident, Line: line(id.Pos)}
					if keyFuncs[id.Ident] && len(args) > 1 {
						if s, ok := args[1].(*parse.StringNode); ok {
							c.Key = s.Text
						}
					}
					calls = append(calls, c)
					args = args[1:]
				}
			}
			for _, a := range args {
				walk(a)
			}
		case *parse.IdentifierNode:
			// A function called without arguments, as an argument or
			// in a chain: {{datetime.Format "2006"}}.
			calls = append(calls, call{Func: n.Ident, Line: line(n.Pos)})
		}
	}
	// The main tree and every {{define}}d one, in a fixed order.
	names := make([]string, 0, len(trees))
	for n := range trees {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		walk(trees[n].Root)
	}
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].Line < calls[j].Line })
	return calls, nil
}

// missingFuncAdvice says, for the functions of confd that reconfig does
// not have, why not and what to do instead.
var missingFuncAdvice = map[string]string{
	"datetime":   "reads the clock; reconfig renders the same bytes from the same data and has no clock: remove it, or stamp the file with {{.Revision}}",
	"lookupIP":   "asks DNS while rendering; reconfig renders from etcd only: store the addresses in etcd (nodes can register themselves with kv set --ttl)",
	"lookupIPV4": "asks DNS while rendering; reconfig renders from etcd only: store the addresses in etcd (nodes can register themselves with kv set --ttl)",
	"lookupIPV6": "asks DNS while rendering; reconfig renders from etcd only: store the addresses in etcd (nodes can register themselves with kv set --ttl)",
	"lookupSRV":  "asks DNS while rendering; reconfig renders from etcd only: store the records in etcd",
	"fileExists": "reads the host's files while rendering; reconfig renders from etcd only: keep the fact in etcd, or test it in checkcmd",
	"cget":       "decrypts with confd's keyring; reconfig has no decryption: keep the value in etcd under etcd's auth, use get, and mark the binding \"sensitive\"",
	"cgets":      "decrypts with confd's keyring; reconfig has no decryption: keep the values in etcd under etcd's auth, use gets, and mark the binding \"sensitive\"",
	"cgetv":      "decrypts with confd's keyring; reconfig has no decryption: keep the value in etcd under etcd's auth, use getv, and mark the binding \"sensitive\"",
	"cgetvs":     "decrypts with confd's keyring; reconfig has no decryption: keep the values in etcd under etcd's auth, use getvs, and mark the binding \"sensitive\"",
}

// missingFuncs returns the calls of functions reconfig's templates do not
// have, one per function and line.
func missingFuncs(calls []call) []call {
	var out []call
	seen := map[call]bool{}
	for _, c := range calls {
		k := call{Func: c.Func, Line: c.Line}
		if render.HasFunc(c.Func) || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

func funcAdvice(name string) string {
	if a, ok := missingFuncAdvice[name]; ok {
		return a
	}
	return "is a function neither confd nor reconfig has"
}

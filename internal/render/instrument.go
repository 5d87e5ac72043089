package render

import (
	"text/template"
	"text/template/parse"
)

// instrument makes every template of the set able to stop: it inserts a
// call of the hidden stop check at the start of every template body (the
// main one, each {{define}} and {{block}}) and of every {{range}} body.
// Go cannot stop a goroutine from outside; a render that loops, or
// recurses through {{template}}, passes a check at every iteration and
// every call, and the check fails once the render is stopped.
//
// A check prints nothing and declares no variable, so it never changes the
// output: trim markers were applied by the parser, {{else}} branches,
// {{break}} and {{continue}} are left as they are, and a range over an
// int or a function runs its body, check included, once per value.
func instrument(t *template.Template) {
	done := map[*parse.Tree]bool{}
	for _, tm := range t.Templates() {
		tree := tm.Tree
		if tree == nil || tree.Root == nil || done[tree] {
			continue
		}
		done[tree] = true
		instrumentList(tree, tree.Root)
		prependCheck(tree, tree.Root)
	}
}

// instrumentList instruments the range bodies within list.
func instrumentList(tree *parse.Tree, list *parse.ListNode) {
	if list == nil {
		return
	}
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.IfNode:
			instrumentList(tree, n.List)
			instrumentList(tree, n.ElseList)
		case *parse.WithNode:
			instrumentList(tree, n.List)
			instrumentList(tree, n.ElseList)
		case *parse.RangeNode:
			instrumentList(tree, n.List)
			instrumentList(tree, n.ElseList)
			prependCheck(tree, n.List)
		}
	}
}

// prependCheck inserts {{if _reconfigStopped}}{{_reconfigStop}}{{end}} at
// the start of list. The condition returns a nil pointer until the render
// is stopped: a call that allocates only its result slice, and no print.
// Once stopped, the action fails the render. The nodes take the list's
// position, so that an error points at the loop or template stopped.
func prependCheck(tree *parse.Tree, list *parse.ListNode) {
	pos := list.Pos
	call := func(name string) *parse.PipeNode {
		id := parse.NewIdentifier(name).SetTree(tree).SetPos(pos)
		cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{id}}
		return &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}
	}
	stop := &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: call(stopFunc)}
	check := &parse.IfNode{BranchNode: parse.BranchNode{NodeType: parse.NodeIf, Pos: pos, Pipe: call(stoppedFunc),
		List: &parse.ListNode{NodeType: parse.NodeList, Pos: pos, Nodes: []parse.Node{stop}}}}
	list.Nodes = append([]parse.Node{check}, list.Nodes...)
}

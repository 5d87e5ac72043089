package shellquote

import (
	"fmt"
	"regexp"
	"strings"
)

// placeholderRE matches {{.name}}, with optional spaces inside the braces.
var placeholderRE = regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// Error is a placeholder that sits where it cannot be quoted.
type Error struct {
	Placeholder string // as written, "{{.src}}"
	Offset      int    // byte offset in the command
	Where       string // "is inside backquotes (`...`); write $(...) instead"
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s at byte %d %s, where it cannot be quoted safely", e.Placeholder, e.Offset, e.Where)
}

// frame is one level of shell quoting or nesting.
type frame int

const (
	top       frame = iota // unquoted, the command itself
	cmdSub                 // $( ... ): unquoted again
	dquote                 // " ... "
	squote                 // ' ... '
	backquote              // ` ... `
	param                  // ${ ... }
	arith                  // $(( ... ))
	ansiC                  // $' ... ' (bash)
	comment                // # ... up to the newline
)

// unsafe says why a placeholder inside the frame cannot be quoted; "" for
// the frames it can.
func (f frame) unsafe() string {
	switch f {
	case backquote:
		return "is inside backquotes (`...`); write $(...) instead"
	case param:
		return "is inside ${...}"
	case arith:
		return "is inside $((...))"
	case ansiC:
		return "is inside $'...'"
	}
	return ""
}

// heredoc is a here-document whose body starts at the next unquoted
// newline.
type heredoc struct {
	delim     string
	stripTabs bool // <<-
}

// Expand returns cmd with each {{.name}} whose name is in values replaced
// by the value, quoted for its context (see the package comment). Other
// placeholders are left as they are.
func Expand(cmd string, values map[string]string) (string, error) {
	type match struct{ start, end int }
	var at []match // placeholders of values, in order
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(cmd, -1) {
		if _, ok := values[cmd[m[2]:m[3]]]; ok {
			at = append(at, match{m[0], m[1]})
		}
	}
	if len(at) == 0 {
		return cmd, nil
	}
	isPlaceholder := func(i int) (end int, ok bool) {
		for _, m := range at {
			if m.start == i {
				return m.end, true
			}
		}
		return 0, false
	}
	within := func(from, to int) (int, bool) {
		for _, m := range at {
			if m.start < to && m.end > from {
				return m.start, true
			}
		}
		return 0, false
	}
	fail := func(i int, where string) error {
		end, _ := isPlaceholder(i)
		return &Error{Placeholder: cmd[i:end], Offset: i, Where: where}
	}

	var out strings.Builder
	stack := []frame{top}
	parens := []int{0} // open "(" inside each frame, for cmdSub and arith
	push := func(f frame) { stack = append(stack, f); parens = append(parens, 0) }
	pop := func() {
		if len(stack) > 1 {
			stack, parens = stack[:len(stack)-1], parens[:len(parens)-1]
		}
	}
	var pending []heredoc
	wordStart := true // the next unquoted character starts a word

	for i := 0; i < len(cmd); {
		cur := stack[len(stack)-1]
		if end, ok := isPlaceholder(i); ok {
			for _, f := range stack {
				if why := f.unsafe(); why != "" {
					return "", fail(i, why)
				}
			}
			v := values[placeholderRE.FindStringSubmatch(cmd[i:end])[1]]
			switch cur {
			case squote:
				out.WriteString(inSingle(v))
			case dquote:
				out.WriteString(inDouble(v))
			case comment:
				out.WriteString(strings.ReplaceAll(unquoted(v), "\n", `\n`))
			default:
				out.WriteString(unquoted(v))
			}
			i, wordStart = end, false
			continue
		}
		c := cmd[i]
		next := byte(0)
		if i+1 < len(cmd) {
			next = cmd[i+1]
		}
		// n is how many bytes this step copies.
		n := 1
		switch cur {
		case squote:
			if c == '\'' {
				pop()
			}
		case ansiC:
			switch c {
			case '\\':
				if _, ok := isPlaceholder(i + 1); ok {
					return "", fail(i+1, "follows a backslash")
				}
				n = min(2, len(cmd)-i)
			case '\'':
				pop()
			}
		case backquote:
			// Quotes do not hide a backquote inside backquotes: the
			// first unescaped one ends it.
			switch c {
			case '\\':
				if _, ok := isPlaceholder(i + 1); ok {
					return "", fail(i+1, "follows a backslash")
				}
				n = min(2, len(cmd)-i)
			case '`':
				pop()
			}
		case comment:
			if c == '\n' {
				pop()
				continue // the newline belongs to the enclosing frame
			}
		case dquote:
			switch c {
			case '\\':
				if _, ok := isPlaceholder(i + 1); ok {
					return "", fail(i+1, "follows a backslash")
				}
				if next != 0 && strings.IndexByte("$`\"\\\n", next) >= 0 {
					n = 2
				}
			case '"':
				pop()
			case '`':
				push(backquote)
			case '$':
				n = dollar(cmd, i, push)
			}
		default: // top, cmdSub, param, arith: unquoted
			switch {
			case c == '\\':
				if _, ok := isPlaceholder(i + 1); ok {
					return "", fail(i+1, "follows a backslash")
				}
				n = min(2, len(cmd)-i)
			case c == '\'':
				push(squote)
			case c == '"':
				push(dquote)
			case c == '`':
				push(backquote)
			case c == '$':
				n = dollar(cmd, i, push)
			case c == '#' && wordStart:
				push(comment)
			case c == '(':
				parens[len(parens)-1]++
			case c == ')' && (cur == cmdSub || cur == arith):
				switch {
				case parens[len(parens)-1] > 0:
					parens[len(parens)-1]--
				case cur == arith && next == ')':
					n = 2
					pop()
				default:
					pop()
				}
			case c == '}' && cur == param:
				pop()
			case c == '<' && strings.HasPrefix(cmd[i:], "<<<"):
				n = 3 // bash's here-string, not a here-document
			case c == '<' && next == '<' && (cur == top || cur == cmdSub):
				h, end, err := heredocOperator(cmd, i, within)
				if err != nil {
					return "", err
				}
				pending = append(pending, h)
				n = end - i
			case c == '\n' && len(pending) > 0 && (cur == top || cur == cmdSub):
				end := heredocBodies(cmd, i+1, pending)
				if p, ok := within(i+1, end); ok {
					return "", fail(p, "is inside a here-document")
				}
				pending = nil
				n = end - i
			}
		}
		out.WriteString(cmd[i : i+n])
		if stack[len(stack)-1] == top || stack[len(stack)-1] == cmdSub {
			wordStart = strings.IndexByte(" \t\n;&|()<>", cmd[i+n-1]) >= 0 && !(n == 2 && c == '\\')
			if c == '$' && n == 2 && next == '(' {
				wordStart = true // $( starts a command
			}
		} else {
			wordStart = false
		}
		i += n
	}
	return out.String(), nil
}

// dollar handles a $ outside single quotes: $( pushes a command
// substitution, $(( arithmetic, ${ a parameter expansion, $' bash's
// ANSI-C quotes. It returns how many bytes it consumed.
func dollar(cmd string, i int, push func(frame)) int {
	rest := cmd[i+1:]
	switch {
	case strings.HasPrefix(rest, "(("):
		push(arith)
		return 3
	case strings.HasPrefix(rest, "("):
		push(cmdSub)
		return 2
	case strings.HasPrefix(rest, "{"):
		push(param)
		return 2
	case strings.HasPrefix(rest, "'"):
		push(ansiC)
		return 2
	}
	return 1
}

// heredocOperator reads "<<[-] WORD" at i and returns the here-document it
// announces and where the operator's word ends.
func heredocOperator(cmd string, i int, within func(from, to int) (int, bool)) (heredoc, int, error) {
	j := i + 2
	h := heredoc{}
	if j < len(cmd) && cmd[j] == '-' {
		h.stripTabs = true
		j++
	}
	for j < len(cmd) && (cmd[j] == ' ' || cmd[j] == '\t') {
		j++
	}
	var delim strings.Builder
	start := j
	var q byte // the quote the word is in, if any
	for ; j < len(cmd); j++ {
		c := cmd[j]
		switch {
		case q != 0 && c == q:
			q = 0
		case q != 0:
			delim.WriteByte(c)
		case c == '\'' || c == '"':
			q = c
		case c == '\\' && j+1 < len(cmd):
			j++
			delim.WriteByte(cmd[j])
		case strings.IndexByte(" \t\n;&|<>()", c) >= 0:
			goto done
		default:
			delim.WriteByte(c)
		}
	}
done:
	if p, ok := within(start, j); ok {
		return h, 0, &Error{Placeholder: placeholderRE.FindString(cmd[p:]), Offset: p, Where: "is a here-document's delimiter"}
	}
	h.delim = delim.String()
	return h, j, nil
}

// heredocBodies skips the bodies of the pending here-documents, which
// start at from, and returns where the command goes on after them.
func heredocBodies(cmd string, from int, pending []heredoc) int {
	j := from
	for _, h := range pending {
		for j < len(cmd) {
			k := strings.IndexByte(cmd[j:], '\n')
			line, next := cmd[j:], len(cmd)
			if k >= 0 {
				line, next = cmd[j:j+k], j+k+1
			}
			if h.stripTabs {
				line = strings.TrimLeft(line, "\t")
			}
			j = next
			if line == h.delim {
				break
			}
		}
	}
	return j
}

// unquoted is v as a single-quoted shell word.
func unquoted(v string) string { return "'" + inSingle(v) + "'" }

// inSingle is v inside single quotes: each ' closes them, is escaped, and
// reopens them.
func inSingle(v string) string { return strings.ReplaceAll(v, "'", `'\''`) }

// inDouble is v inside double quotes: $ ` " \ escaped.
func inDouble(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if strings.IndexByte("$`\"\\", v[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

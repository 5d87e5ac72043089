package supervise

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
)

// assignment is a word that sets a variable for the command (NAME=...).
var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// reserved are the shell's reserved words, which start compound commands
// that `exec` cannot run.
var reserved = map[string]bool{
	"!": true, "{": true, "}": true, "if": true, "then": true, "else": true, "elif": true, "fi": true,
	"do": true, "done": true, "case": true, "esac": true, "while": true, "until": true, "for": true, "in": true,
}

// ExecLine returns the /bin/sh -c command line that runs cmd with the
// shell replaced by the program: `exec` put before the first word that is
// neither a variable assignment (FOO=bar nginx → FOO=bar exec nginx), and
// left out when cmd already starts with it. The shell still expands
// quotes, variables and redirections. A command line with more than one
// command in it (;, &, &&, |, ||, a newline, a subshell, a reserved word
// such as if or while) is an error: after `exec` the rest would never
// run, and without it the shell, not the program, would get the signals.
func ExecLine(cmd string) (string, error) {
	type word struct{ start, end int }
	var words []word
	inWord := false
	i := 0
scan:
	for i < len(cmd) {
		c := cmd[i]
		if c == ' ' || c == '\t' {
			if inWord {
				words[len(words)-1].end = i
				inWord = false
			}
			i++
			continue
		}
		if !inWord {
			if c == '#' {
				break scan
			}
			words = append(words, word{start: i, end: len(cmd)})
			inWord = true
		}
		switch c {
		case '\n', ';', '&', '|', '(', ')':
			what := map[byte]string{'\n': "a newline", ';': `";"`, '&': `"&"`, '|': `"|"`, '(': `"("`, ')': `")"`}[c]
			return "", fmt.Errorf("%q has %s at byte %d, which makes more than one command; --exec runs one program", cmd, what, i)
		case '<', '>':
			// A redirection: its operator may go on with & or | (2>&1,
			// >|), and those are not control operators.
			i++
			for i < len(cmd) && strings.IndexByte("<>&|", cmd[i]) >= 0 {
				i++
			}
			continue
		case '\\':
			i += 2
			continue
		case '\'', '"', '`':
			end, ok := skipTo(cmd, i+1, c)
			if !ok {
				return "", fmt.Errorf("%q: the %c at byte %d is never closed", cmd, c, i)
			}
			i = end
			continue
		case '$':
			if i+1 < len(cmd) && (cmd[i+1] == '(' || cmd[i+1] == '{') {
				end, ok := skipTo(cmd, i+2, closing(cmd[i+1]))
				if !ok {
					return "", fmt.Errorf("%q: the $%c at byte %d is never closed", cmd, cmd[i+1], i)
				}
				i = end
				continue
			}
		}
		i++
	}
	for n, w := range words {
		text := cmd[w.start:w.end]
		if assignment.MatchString(text) {
			continue
		}
		if reserved[text] {
			return "", fmt.Errorf("%q starts with %q, a compound command; --exec runs one program", cmd, text)
		}
		if text == "exec" {
			if n == len(words)-1 {
				break
			}
			return cmd, nil
		}
		return cmd[:w.start] + "exec " + cmd[w.start:], nil
	}
	return "", fmt.Errorf("%q names no program to run", cmd)
}

func closing(open byte) byte {
	if open == '(' {
		return ')'
	}
	return '}'
}

// skipTo returns the index just past the close byte that ends the quoted
// text or substitution whose body starts at i, skipping what is nested in
// it; ok is false when nothing closes it.
func skipTo(s string, i int, close byte) (end int, ok bool) {
	for i < len(s) {
		c := s[i]
		switch {
		case c == close:
			return i + 1, true
		case close == '\'':
			// Nothing is special inside single quotes.
		case c == '\\':
			i++
		case c == '\'' && close != '"', c == '"', c == '`':
			if i, ok = skipTo(s, i+1, c); !ok {
				return i, false
			}
			continue
		case c == '$' && i+1 < len(s) && (s[i+1] == '(' || s[i+1] == '{'):
			if i, ok = skipTo(s, i+2, closing(s[i+1])); !ok {
				return i, false
			}
			continue
		case c == '(' && close == ')':
			if i, ok = skipTo(s, i+1, ')'); !ok {
				return i, false
			}
			continue
		}
		i++
	}
	return i, false
}

// signals are the signals a program may be told to reload with.
var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH, "ALRM": syscall.SIGALRM,
}

// ParseSignal reads a signal name: HUP, SIGHUP or hup.
func ParseSignal(name string) (syscall.Signal, error) {
	s, ok := signals[strings.TrimPrefix(strings.ToUpper(name), "SIG")]
	if !ok {
		return 0, fmt.Errorf("unknown signal %q; use one of HUP, USR1, USR2, QUIT, INT, TERM, WINCH, ALRM", name)
	}
	return s, nil
}

// Package shellquote puts values — file paths — into a `/bin/sh -c`
// command line in place of {{.name}} placeholders, each quoted for the
// quoting context the placeholder sits in, so that the shell sees exactly
// the value as (part of) one word, whatever bytes it holds: spaces, ";",
// quotes, "$(...)", backquotes, backslashes, newlines, glob characters.
//
// It scans the command the way a POSIX shell tokenises it — single and
// double quotes, backslashes, $(...) (a new unquoted context, even inside
// double quotes), comments and here-documents — up to each placeholder,
// and writes the value (here a/b'c) for the context it finds:
//
//	cmd {{.src}}      unquoted: single-quoted       cmd 'a/b'\''c'
//	cmd "{{.src}}"    double quotes: $ ` " \ escaped  cmd "a/b'c"
//	cmd '{{.src}}'    single quotes: each ' closed,  cmd 'a/b'\''c'
//	                  escaped and reopened
//	cmd # {{.src}}    a comment: as unquoted, newlines written \n
//
// A placeholder where no quoting is sure to hold — inside backquotes,
// ${...}, $((...)), $'...', a here-document, or right after a backslash —
// is an error, which `reconfig validate` reports before any command runs.
package shellquote

// Package render turns a binding's template and a snapshot into the bytes of
// its target file.
//
// It owns the template language: Go text/template with the binding's
// delimiters, the data model (.Data .AltData .Watched .Revision .ID) and the
// function set (confd's deterministic functions plus keys, toJSON,
// toPrettyJSON and trimPrefix, and the structured-data functions fromJSON,
// fromYAML, toYAML, toTOML, indent and nindent), restricted to the keys the
// binding declares. Rendering is deterministic: the same snapshot gives the
// same bytes, and the encoders write keys in byte order.
// Errors name the binding, the template file, its line and the key; those
// of a sensitive binding never quote a value.
//
// A render is bounded: it stops at its binding's render_timeout or when its
// context ends (checks inserted into every loop and template body, see
// instrument), no function call returns more than MaxOutput bytes or a
// million entries, the function calls of a render produce at most a budget
// of bytes, and the output is at most MaxOutput. A runaway template fails
// its own binding; it never hangs or exhausts the process. Key look-ups
// binary-search the sorted keys.
package render

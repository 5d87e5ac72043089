// Package render turns a binding's template and a snapshot into the bytes of
// its target file.
//
// It owns the template language: Go text/template with the binding's
// delimiters, the data model (.Data .AltData .Watched .Revision .ID) and the
// function set (confd's deterministic functions plus keys, toJSON,
// toPrettyJSON and trimPrefix), restricted to the keys the binding declares.
// Rendering is deterministic: the same snapshot gives the same bytes.
// Errors name the binding, the template file, its line and the key.
package render

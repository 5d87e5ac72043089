// Package bindings loads and validates the binding files of
// <cfgdir>/conf.d: which etcd key a template renders into which target file,
// and how that file is checked, reloaded and owned.
//
// It owns every validation rule of a binding (its fields, the template path
// staying inside templates/, unique ids and targets) and reports all the
// problems of a directory at once, each naming its file. It does not parse
// templates (package render) or touch etcd.
package bindings

// Package confdimport converts a confd configuration directory (conf.d/*.toml
// template resources and templates/) into reconfig bindings and templates.
//
// It owns the mapping of confd's fields onto a binding's (src, dest, keys,
// prefix, mode, uid/gid, owner, check_cmd, reload_cmd), the reading of
// confd's TOML with the library confd itself used, and the judgement of
// what cannot be carried over as it is: template functions reconfig does
// not have, check_cmd templates beyond {{.src}}, prefixes that differ
// between resources. Convert returns the files to write and a report per
// resource; Write writes them all or, on any error, none. It never prints
// and never touches etcd.
package confdimport

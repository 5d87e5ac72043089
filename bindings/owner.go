package bindings

import (
	"fmt"
	"os/user"
	"strconv"
)

// Owners resolves the binding's owner and group to numeric ids; -1 means
// "keep the existing file's, else the running user's".
func (b *Binding) Owners() (uid, gid int, err error) {
	uid, gid = -1, -1
	if b.Owner != "" {
		if uid, err = lookupID(b.Owner, user.Lookup, func(u *user.User) string { return u.Uid }); err != nil {
			return -1, -1, fmt.Errorf("owner %q: %w", b.Owner, err)
		}
	}
	if b.Group != "" {
		if gid, err = lookupID(b.Group, user.LookupGroup, func(g *user.Group) string { return g.Gid }); err != nil {
			return -1, -1, fmt.Errorf("group %q: %w", b.Group, err)
		}
	}
	return uid, gid, nil
}

func lookupID[T any](name string, lookup func(string) (T, error), id func(T) string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	v, err := lookup(name)
	if err != nil {
		return -1, fmt.Errorf("no such user or group on this host")
	}
	return strconv.Atoi(id(v))
}

// CheckOwners says, for every binding whose owner or group does not exist
// on this host, which binding names which: apply would fail on it.
func (s *Set) CheckOwners() Errors {
	var errs Errors
	for _, b := range s.Bindings {
		for _, o := range []struct {
			what, name string
			lookup     func(string) error
		}{
			{"owner", b.Owner, func(n string) error { _, err := user.Lookup(n); return err }},
			{"group", b.Group, func(n string) error { _, err := user.LookupGroup(n); return err }},
		} {
			if o.name == "" {
				continue
			}
			if n, err := strconv.Atoi(o.name); err == nil && n >= 0 {
				continue
			}
			if o.lookup(o.name) != nil {
				kind := map[string]string{"owner": "user", "group": "group"}[o.what]
				errs = append(errs, &Error{File: b.File, Msg: fmt.Sprintf("binding %q: %s %q: no such %s on this host", b.ID, o.what, o.name, kind)})
			}
		}
	}
	return errs
}

package bindings

import (
	"fmt"
	"io/fs"
	"strconv"
)

// ParseMode reads an octal file mode such as "0640" or "2755", with the
// setuid, setgid and sticky bits.
func ParseMode(s string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 || s == "" {
		return 0, fmt.Errorf("%q is not an octal file mode like \"0640\"", s)
	}
	mode := fs.FileMode(m) & fs.ModePerm
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode, nil
}

// FormatMode writes a mode the way ParseMode reads it: "0640".
func FormatMode(m fs.FileMode) string {
	o := uint32(m & fs.ModePerm)
	if m&fs.ModeSetuid != 0 {
		o |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		o |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		o |= 0o1000
	}
	return fmt.Sprintf("%#o", o)
}

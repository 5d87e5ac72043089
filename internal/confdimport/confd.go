package confdimport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/reconfig/reconfig/internal/atomicfile"
)

// resource is a confd template resource as written: the [template] table
// of a conf.d/*.toml file. Pointers tell a field that is absent from one
// that is empty or zero.
type resource struct {
	Src       string   `toml:"src"`
	Dest      string   `toml:"dest"`
	Keys      []string `toml:"keys"`
	Prefix    string   `toml:"prefix"`
	Mode      string   `toml:"mode"`
	UID       *int     `toml:"uid"`
	GID       *int     `toml:"gid"`
	Owner     string   `toml:"owner"`
	CheckCmd  string   `toml:"check_cmd"`
	ReloadCmd string   `toml:"reload_cmd"`
}

type resourceFile struct {
	Template *resource `toml:"template"`
}

// settings are the parts of confd.toml that decide what the resources
// read: confd's -prefix replaces every resource's own prefix.
type settings struct {
	Prefix  *string  `toml:"prefix"`
	Backend string   `toml:"backend"`
	Nodes   []string `toml:"nodes"`
}

// maxFile is the largest confd file read: resources and confd.toml are a
// few hundred bytes.
const maxFile = 1 << 20

// readTOML decodes the TOML file at path into v, and returns the keys it
// holds that v has no field for. A syntax or type error is an *Error with
// the line.
// It also returns the file's permissions, which what the import makes of
// it keeps at most (filePerm).
func readTOML(path string, v any) (undecoded []string, perm fs.FileMode, err error) {
	data, info, err := atomicfile.Read(path, atomicfile.ReadOptions{Max: maxFile, FollowSymlink: true})
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, 0, &Error{File: path, Msg: re.What()}
	case err != nil:
		return nil, 0, &Error{File: path, Msg: fmt.Sprintf("cannot read: %v", atomicfile.WithoutPath(err))}
	}
	md, err := toml.Decode(string(data), v)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := "invalid TOML: " + pe.Message
			if pe.LastKey != "" {
				msg += fmt.Sprintf(" (at %q)", pe.LastKey)
			}
			return nil, 0, &Error{File: path, Line: pe.Position.Line, Msg: msg}
		}
		return nil, 0, decodeError(path, err)
	}
	for _, k := range md.Undecoded() {
		undecoded = append(undecoded, k.String())
	}
	return undecoded, filePerm(info.Mode()), nil
}

// filePerm is the mode of a file the import writes from a confd file of
// mode m: 0644 at most, and no more than m lets others read (a template
// or resource kept from other users may hold a password); its owner may
// always read and write it.
func filePerm(m fs.FileMode) fs.FileMode {
	return m.Perm()&0o644 | 0o600
}

// The errors of decoding into a field of the wrong type are plain text:
// "toml: line 3 (last key "template.uid"): incompatible types: TOML value
// has type string; destination has type integer".
var (
	decodeErrRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)
	typeErrRE   = regexp.MustCompile(`^incompatible types: TOML value has type (\S+); destination has type (\S+)$`)
)

// decodeError locates a decoding error in its file when it can.
func decodeError(path string, err error) *Error {
	m := decodeErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: path, Msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[3]
	if t := typeErrRE.FindStringSubmatch(msg); t != nil {
		msg = fmt.Sprintf("%s is a %s; confd wants a%s %s", m[2], t[1], article(t[2]), t[2])
		return &Error{File: path, Line: line, Msg: msg}
	}
	return &Error{File: path, Line: line, Msg: fmt.Sprintf("%s: %s", m[2], msg)}
}

func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "n"
	}
	return ""
}

// resourceFiles lists the template resources under confDir/conf.d the way
// confd finds them: every file, in subdirectories too, whose name ends in
// "toml", sorted.
func resourceFiles(confDir string) ([]string, error) {
	dir := filepath.Join(confDir, "conf.d")
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist; want confd's directory, the one holding conf.d/ and templates/ (like /etc/confd)", dir)
	case err != nil:
		return nil, fmt.Errorf("confd resource directory: %w", err)
	case !info.IsDir():
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("confd resource directory: %w", err)
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), "toml") {
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// Package atomicfile replaces files so that a reader sees the old content or
// the new, never a mix, never an empty file, and the change survives a
// crash: stage a temporary file in the target's directory, write, fsync,
// set mode and owner, rename over the target, fsync the directory. It is
// the one writer behind targets, the state file and plan files.
//
// It is also the one reader of files that reconfig did not create or that
// others could have replaced — targets, orphans, the state and its lock,
// saved plans, snapshots, binding and TLS files: Read opens without
// following a final symlink and without blocking, refuses anything but a
// regular file, and reads at most a cap the caller gives.
package atomicfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Attrs are the permissions and ownership of a staged file. UID and GID -1
// leave ownership to the running user.
type Attrs struct {
	Mode     fs.FileMode
	UID, GID int
}

// Staged is new content written beside its target and not yet installed.
type Staged struct {
	path string // the target
	tmp  string
	done bool
}

// tempPrefix marks reconfig's staged files: ".reconfig-<random>.<base>", so
// a staged file keeps its target's extension for checkers that look at it.
const tempPrefix = ".reconfig-"

// NameMax is the longest file name — one component of a path — that Linux
// file systems accept (NAME_MAX).
const NameMax = 255

// randomLen is the length of the random part of a staged name, in hex.
const randomLen = 12

// stagedSuffix is what follows ".reconfig-<random>." in the name of a file
// staged for the target named base: base itself when the whole name fits
// in NameMax, else base cut short, then "~" and 8 hex digits of base's
// SHA-256 (two long names never share a suffix), then base's extension
// (".conf": a checker still sees it). It is a function of base alone, so
// that RemoveStaleIn recognises the staged files of a target.
func stagedSuffix(base string) string {
	room := NameMax - len(tempPrefix) - randomLen - 1
	if len(base) <= room {
		return base
	}
	ext := filepath.Ext(base)
	if len(ext) > 64 || len(ext) == len(base) {
		ext = "" // not an extension a checker looks at
	}
	sum := sha256.Sum256([]byte(base))
	tag := "~" + hex.EncodeToString(sum[:4])
	cut := room - len(tag) - len(ext)
	for cut > 0 && !utf8.RuneStart(base[cut]) {
		cut-- // never split a UTF-8 sequence
	}
	return base[:cut] + tag + ext
}

// Stage writes data to a new temporary file in path's directory, fsyncs it
// and sets its attributes. Nothing is visible at path until Commit.
func Stage(path string, data []byte, a Attrs) (*Staged, error) {
	dir, base := filepath.Split(path)
	// The name needs to be unlikely, not secret: O_EXCL refuses a file
	// already there. (math/rand/v2 draws from a generator seeded once by
	// the system; crypto/rand costs a system call per name.)
	var rnd [8]byte
	binary.LittleEndian.PutUint64(rnd[:], rand.Uint64())
	tmp := filepath.Join(dir, tempPrefix+hex.EncodeToString(rnd[:randomLen/2])+"."+stagedSuffix(base))
	// A plain open: os.OpenFile would offer the file to the runtime's
	// poller (refused for a regular file) and switch its flags back and
	// forth, four more system calls before the rename that publishes it.
	fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	s := &Staged{path: path, tmp: tmp}
	err = write(f, data, a)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("stage %s: %w", path, WithoutPath(err))
	}
	return s, nil
}

func write(f *os.File, data []byte, a Attrs) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if a.UID >= 0 || a.GID >= 0 {
		if err := f.Chown(a.UID, a.GID); err != nil {
			return err
		}
	}
	// Chmod after Chown: chown clears the setuid and setgid bits.
	if err := f.Chmod(a.Mode); err != nil {
		return err
	}
	return f.Sync()
}

// Path is the staged file, for a check command to read before Commit.
func (s *Staged) Path() string { return s.tmp }

// Commit renames the staged file over the target. The caller fsyncs the
// directory (SyncDir) once for all the files of a cycle.
func (s *Staged) Commit() error {
	if s.done {
		return errors.New("staged file already committed or discarded")
	}
	if err := os.Rename(s.tmp, s.path); err != nil {
		return fmt.Errorf("install %s: %w", s.path, WithoutPath(err))
	}
	s.done = true
	return nil
}

// Discard removes the staged file if it was not committed.
func (s *Staged) Discard() {
	if !s.done {
		os.Remove(s.tmp)
		s.done = true
	}
}

// SyncDir fsyncs a directory so that renames and removals in it are
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, WithoutPath(err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, WithoutPath(err))
	}
	return nil
}

// Write atomically and durably replaces path with data.
func Write(path string, data []byte, a Attrs) error {
	s, err := Stage(path, data, a)
	if err != nil {
		return err
	}
	if err := s.Commit(); err != nil {
		s.Discard()
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Current is a target as it is on disk: its content and attributes.
type Current struct {
	Data  []byte
	Attrs Attrs
	// Links is the file's number of hard links. Replacing it by rename
	// (or deleting it) changes this name only: the other links keep the
	// old content.
	Links uint64
	// stamp identifies the file as it was read, for Changed.
	stamp Stamp
}

// Stamp identifies one version of a file: a write changes its size or
// modification time and its change time, a replacement its inode. The
// change time is what counts when the others look the same: an edit in
// place that keeps the size and puts the modification time back
// (os.Chtimes, touch -r, cp -p onto the file) still moves it, and no
// user can set it. The zero Stamp is no file.
type Stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// StampOf is the stamp of a file's information.
func StampOf(info fs.FileInfo) Stamp {
	s := Stamp{size: info.Size(), mtime: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), st.Ino
		s.ctime = changeTime(st)
	}
	return s
}

// StampAt is the stamp of the file at path now, without following a
// symlink (a link swapped in is another file); the zero Stamp when there
// is none.
func StampAt(path string) Stamp {
	info, err := os.Lstat(path)
	if err != nil {
		return Stamp{}
	}
	return StampOf(info)
}

// Changed reports whether the file at path is no longer the one cur was
// read from (another inode, size, modification or change time) — or, when cur is
// nil, whether a file appeared there. It is the last look before a rename
// replaces the file: an edit by hand made meanwhile is not overwritten.
func Changed(path string, cur *Current) (bool, error) {
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cur != nil, nil
	case err != nil:
		return false, fmt.Errorf("target %s: %w", path, WithoutPath(err))
	case cur == nil:
		return true, nil
	}
	return StampOf(info) != cur.stamp, nil
}

// ReadCurrent reads the target at path with its mode, owner and link
// count, through Read (no symlink followed, no blocking, at most max
// bytes); it returns nil when there is none. A symlink or any other
// non-regular file is an error that unwraps to a *RefusedError: Write
// replaces files by renaming, which would replace a link itself.
func ReadCurrent(path string, max int64) (*Current, error) {
	data, info, err := Read(path, ReadOptions{Max: max})
	var re *RefusedError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.As(err, &re) && re.Symlink():
		return nil, &wrapped{msg: fmt.Sprintf("target %s is a symlink; reconfig replaces files, not links: point \"target\" at the file itself", path), err: re}
	case errors.As(err, &re):
		return nil, &wrapped{msg: "target " + re.Error(), err: re}
	case err != nil:
		return nil, fmt.Errorf("target %s: %w", path, WithoutPath(err))
	}
	c := &Current{Data: data, Links: Links(info), stamp: StampOf(info),
		Attrs: Attrs{Mode: info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), UID: -1, GID: -1}}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		c.Attrs.UID, c.Attrs.GID = int(st.Uid), int(st.Gid)
	}
	return c, nil
}

// wrapped is an error with a message of its own that still unwraps to the
// error it explains.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// RemoveStaleIn deletes, with one read of dir, the staged files of every
// target in dir whose base name is in bases, shortened names included.
func RemoveStaleIn(dir string, bases map[string]bool) error {
	suffixes := make(map[string]bool, len(bases))
	for b := range bases {
		suffixes[stagedSuffix(b)] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, tempPrefix) || len(n) < len(tempPrefix)+randomLen+2 || n[len(tempPrefix)+randomLen] != '.' {
			continue
		}
		if !suffixes[n[len(tempPrefix)+randomLen+1:]] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// WithoutPath drops the *fs.PathError (or *os.LinkError) wrapper of err,
// whose path and operation the caller's message names already: "cannot
// read: permission denied", not "cannot read: open /etc/x: permission
// denied" after "/etc/x". Any other error is returned as it is.
func WithoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

package state

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// Cache keeps the state a long-running process last read or wrote, and
// reads the file again only when another process replaced it. The caller
// holds the lock around Load and Save.
type Cache struct {
	st *State
	id fileID
}

type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func identify(path string) (fileID, bool) {
	info, err := os.Lstat(path) // a link swapped in is not the file cached
	if err != nil {
		return fileID{}, false
	}
	id := fileID{size: info.Size(), mtime: info.ModTime()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	return id, true
}

// Stamp identifies the file at path as it is now (device, inode, size,
// modification time); "" when there is none. A changed stamp means the
// file was replaced or written.
func Stamp(path string) string {
	id, ok := identify(path)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d:%d", id.dev, id.ino, id.size, id.mtime.UnixNano())
}

// Load returns the state at path: the cached one when the file is the one
// this process last saw, else the file read anew.
func (c *Cache) Load(path string) (*State, error) {
	id, ok := identify(path)
	if ok && c.st != nil && id == c.id {
		return c.st, nil
	}
	st, err := Load(path)
	if err != nil {
		c.st = nil
		return nil, err
	}
	if ok {
		c.st, c.id = st, id
	} else {
		c.st = nil
	}
	return st, nil
}

// Save writes st and remembers the file it wrote; on failure the cache is
// dropped so the next Load reads the file.
func (c *Cache) Save(st *State, path string) error {
	if err := st.Save(path); err != nil {
		c.st = nil
		return err
	}
	if id, ok := identify(path); ok {
		c.st, c.id = st, id
	} else {
		c.st = nil
	}
	return nil
}

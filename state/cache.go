package state

import "github.com/reconfig/reconfig/internal/atomicfile"

// Cache keeps the state a long-running process last read or wrote, and
// reads the file again only when another process replaced it. The caller
// holds the lock around Load and Save.
type Cache struct {
	st *State
	id atomicfile.Stamp
}

// Load returns the state at path: the cached one when the file is the one
// this process last saw, else the file read anew.
func (c *Cache) Load(path string) (*State, error) {
	id := atomicfile.StampAt(path)
	if id != (atomicfile.Stamp{}) && c.st != nil && id == c.id {
		return c.st, nil
	}
	st, err := Load(path)
	if err != nil {
		c.st = nil
		return nil, err
	}
	if id != (atomicfile.Stamp{}) {
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
	if id := atomicfile.StampAt(path); id != (atomicfile.Stamp{}) {
		c.st, c.id = st, id
	} else {
		c.st = nil
	}
	return nil
}

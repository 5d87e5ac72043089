package atomicfile

import "path/filepath"

// RemoveStale deletes staged files of path left behind by a process that
// died between Stage and Commit. Callers hold the state lock, so no other
// reconfig is staging the same target.
func RemoveStale(path string) error {
	dir, base := filepath.Split(path)
	return RemoveStaleIn(dir, map[string]bool{base: true})
}

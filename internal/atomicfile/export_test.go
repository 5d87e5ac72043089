package atomicfile

import (
	"path/filepath"
	"syscall"
)

// RemoveStale deletes staged files of path left behind by a process that
// died between Stage and Commit. Callers hold the state lock, so no other
// reconfig is staging the same target.
func RemoveStale(path string) error {
	dir, base := filepath.Split(path)
	return RemoveStaleIn(dir, map[string]bool{base: true})
}

// ChangeTime is the change time of the file at path, in nanoseconds.
func ChangeTime(path string) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return changeTime(&st), nil
}

package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/reconfig/reconfig/internal/atomicfile"
	"github.com/reconfig/reconfig/internal/hint"
)

// LockInfo says who holds the lock.
type LockInfo struct {
	PID       int       `json:"pid"`
	Operation string    `json:"operation"`
	Since     time.Time `json:"since"`
	Host      string    `json:"host"`
}

// Lock is a held state lock.
type Lock struct {
	f    *os.File
	path string
}

// JournalPath is the journal of a state file: where apply keeps the last
// checked content of targets installed before their check.
func JournalPath(statePath string) string { return statePath + ".journal" }

// LockPath is the lock file of a state file.
func LockPath(statePath string) string { return statePath + ".lock" }

// LockedError is a lock held by another process.
type LockedError struct {
	Path string
	Info *LockInfo // nil when the holder did not record itself
}

var _ hint.Hinter = (*LockedError)(nil)

func (e *LockedError) Error() string {
	if e.Info == nil {
		return fmt.Sprintf("the state is locked (%s)", e.Path)
	}
	return fmt.Sprintf("the state is locked by pid %d (%s) on %s since %s", e.Info.PID, e.Info.Operation, e.Info.Host,
		e.Info.Since.Local().Format(time.RFC3339))
}

// Hint says what to do.
func (e *LockedError) Hint() string {
	return "wait for it to finish or pass --lock-timeout; a lock is released when its process exits"
}

// pollInterval is how often a waiting Acquire retries a held lock.
const pollInterval = 50 * time.Millisecond

// maxInfo bounds what is read of a lock file: its LockInfo is one short
// line.
const maxInfo = 4 << 10

// openLock opens (creating) the lock file at path for reading and writing
// through atomicfile.OpenRegular — no symlink followed, no blocking — and
// refuses anything but a regular file with one link: the lock lives beside
// the state, maybe in a directory others can write, and root must never
// truncate or write a file someone planted there (a link to /etc/passwd).
func openLock(statePath string, flag int) (*os.File, error) {
	path := LockPath(statePath)
	f, info, err := atomicfile.OpenRegular(path, flag, 0o600)
	var re *atomicfile.RefusedError
	switch {
	case errors.As(err, &re):
		return nil, hint.Wrap(&Error{Path: statePath, Msg: fmt.Sprintf("lock file %v", re)}, plantedHint(path))
	case err != nil:
		return nil, err
	}
	if n := atomicfile.Links(info); n != 1 {
		f.Close()
		return nil, hint.Wrap(&Error{Path: statePath, Msg: fmt.Sprintf("lock file %s has %d hard links, not 1", path, n)},
			plantedHint(path))
	}
	return f, nil
}

func plantedHint(path string) string {
	return fmt.Sprintf("reconfig makes its lock file itself, a regular file with one link: find out who put %s there and remove it, or move the state with --state", path)
}

// Acquire takes the lock of the state file, waiting up to timeout while
// another process holds it.
func Acquire(ctx context.Context, statePath, operation string, timeout time.Duration) (*Lock, error) {
	path := LockPath(statePath)
	f, err := openLock(statePath, os.O_RDWR|os.O_CREATE)
	var se *Error
	switch {
	case errors.As(err, &se):
		return nil, err
	case err != nil:
		return nil, hint.Wrap(&Error{Path: statePath, Msg: fmt.Sprintf("cannot open lock file %s: %v", path, atomicfile.WithoutPath(err))},
			"check that the state file's directory exists and is writable, or move it with --state")
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !time.Now().Before(deadline) {
			info := readInfo(f)
			f.Close()
			return nil, &LockedError{Path: path, Info: info}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(min(pollInterval, time.Until(deadline))):
		}
	}
	// A staged state file or journal beside the state was left by a
	// process killed while it saved: no one else writes them while we hold
	// the lock. One read of the directory for both.
	dir, base := filepath.Split(statePath)
	atomicfile.RemoveStaleIn(dir, map[string]bool{base: true, filepath.Base(JournalPath(statePath)): true})
	host, _ := os.Hostname()
	info, _ := json.Marshal(LockInfo{PID: os.Getpid(), Operation: operation, Since: time.Now().UTC(), Host: host})
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(info, '\n'), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// readInfo reads who holds the lock from the lock file's descriptor,
// opened and checked by openLock, never by its path again.
func readInfo(f *os.File) *LockInfo {
	buf := make([]byte, maxInfo+1)
	n, err := f.ReadAt(buf, 0)
	if (err != nil && !errors.Is(err, io.EOF)) || n > maxInfo {
		return nil
	}
	var info LockInfo
	if json.Unmarshal(buf[:n], &info) != nil || info.PID == 0 {
		return nil
	}
	return &info
}

// Unlock removes a lock file that no running process holds. A lock held by
// a live process is refused: it is not stale.
func Unlock(statePath string) (*LockInfo, error) {
	path := LockPath(statePath)
	f, err := openLock(statePath, os.O_RDWR)
	var se *Error
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.As(err, &se):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("open lock file %s: %w", path, atomicfile.WithoutPath(err))
	}
	defer f.Close()
	info := readInfo(f)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return info, &LockedError{Path: path, Info: info}
	}
	if err := os.Remove(path); err != nil {
		return info, fmt.Errorf("remove lock file: %w", err)
	}
	return info, nil
}

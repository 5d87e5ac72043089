package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	f               *os.File
	path, statePath string
	// locker, when set, keeps the file open after Release.
	locker *Locker
	// interrupted: see Interrupted.
	interrupted bool
}

// Interrupted reports whether a process may have died holding the lock
// since this process last released it: the lock file still named a
// holder (Release empties it), or it was opened anew. What such a
// process was writing — staged files beside targets — may still be there.
func (l *Lock) Interrupted() bool { return l.interrupted }

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
//
// A file with no link left was removed between its open and its check
// (`reconfig state unlock` at that moment): it is opened again, since a
// lock on it would exclude no one.
func openLock(statePath string, flag int) (*os.File, error) {
	path := LockPath(statePath)
	for range 3 {
		f, info, err := atomicfile.OpenRegular(path, flag, 0o600)
		var re *atomicfile.RefusedError
		switch {
		case errors.As(err, &re):
			return nil, hint.Wrap(&Error{Path: statePath, Msg: fmt.Sprintf("lock file %v", re)}, plantedHint(path))
		case err != nil:
			return nil, err
		}
		n := atomicfile.Links(info)
		if n == 1 {
			return f, nil
		}
		f.Close()
		if n != 0 || flag&os.O_CREATE == 0 {
			return nil, hint.Wrap(&Error{Path: statePath, Msg: fmt.Sprintf("lock file %s has %d hard links, not 1", path, n)},
				plantedHint(path))
		}
	}
	return nil, &Error{Path: statePath, Msg: fmt.Sprintf("lock file %s keeps being removed as it is opened", path)}
}

func plantedHint(path string) string {
	return fmt.Sprintf("reconfig makes its lock file itself, a regular file with one link: find out who put %s there and remove it, or move the state with --state", path)
}

// Acquire takes the lock of the state file, waiting up to timeout while
// another process holds it. Like a Locker's, the lock is taken on the file
// still at the lock's path: a file removed (`reconfig state unlock`) or
// replaced while this process waited for it is opened again.
func Acquire(ctx context.Context, statePath, operation string, timeout time.Duration) (*Lock, error) {
	l := NewLocker(statePath, operation)
	lock, err := l.Acquire(ctx, timeout)
	if err != nil {
		l.Close()
		return nil, err
	}
	// The descriptor is the lock's alone: Release closes it.
	lock.locker = nil
	return lock, nil
}

// Locker takes the lock of one state file again and again, for a process
// that runs many operations (the daemon, a cycle at a time): it keeps the
// lock file open between them, so that taking the lock is one flock and
// one write of who holds it, not an open, checks, and a close. The lock
// excludes other processes as Acquire's does: the lock file is looked at
// again before each lock, and opened again when it is no longer the one
// held open (removed by `reconfig state unlock`, replaced).
type Locker struct {
	statePath, operation, host string
	f                          *os.File
	// file is f's identity (device and inode), to tell whether the lock
	// file's path still names it.
	file fs.FileInfo
}

// NewLocker returns a Locker of the state file for operation ("watch").
func NewLocker(statePath, operation string) *Locker {
	return &Locker{statePath: statePath, operation: operation, host: hostname()}
}

// Acquire takes the lock, waiting up to timeout while another process
// holds it. The Lock it returns gives it up and keeps the file open.
func (l *Locker) Acquire(ctx context.Context, timeout time.Duration) (*Lock, error) {
	path := LockPath(l.statePath)
	deadline := time.Now().Add(timeout)
	// Three tries: the file is opened again only when another process
	// removed or replaced it meanwhile.
	for range 3 {
		opened := l.f == nil
		if opened {
			f, err := openLockFile(l.statePath)
			if err != nil {
				return nil, err
			}
			info, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			l.f, l.file = f, info
		}
		if err := waitFlock(ctx, l.f, path, max(time.Until(deadline), 0)); err != nil {
			return nil, err
		}
		// Removed or replaced while this process waited for it: a lock
		// on a file no other process opens would exclude no one.
		if l.current() {
			interrupted := opened || readInfo(l.f) != nil
			writeInfo(l.f, l.operation, l.host)
			return &Lock{f: l.f, path: path, statePath: l.statePath, locker: l, interrupted: interrupted}, nil
		}
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.Close()
	}
	return nil, fmt.Errorf("lock %s: the lock file keeps being replaced", path)
}

// current reports whether the lock file's path still names the file held
// open.
func (l *Locker) current() bool {
	info, err := os.Lstat(LockPath(l.statePath))
	return err == nil && os.SameFile(info, l.file)
}

// Close closes the lock file; a lock taken is given up.
func (l *Locker) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// openLockFile opens (creating) the lock file of statePath, checked by
// openLock.
func openLockFile(statePath string) (*os.File, error) {
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
	return f, nil
}

// waitFlock takes the flock of f, retrying up to timeout while another
// process holds it.
func waitFlock(ctx context.Context, f *os.File, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		if !time.Now().Before(deadline) {
			return &LockedError{Path: path, Info: readInfo(f)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(pollInterval, time.Until(deadline))):
		}
	}
}

func hostname() string {
	host, _ := os.Hostname()
	return host
}

// writeInfo records who holds the lock in the lock file.
func writeInfo(f *os.File, operation, host string) {
	info, _ := json.Marshal(LockInfo{PID: os.Getpid(), Operation: operation, Since: time.Now().UTC(), Host: host})
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(info, '\n'), 0)
	}
}

// Release gives the lock up. Before it does, it removes what a process
// killed while it saved left beside the state — a staged state file or
// journal, never renamed into place: no one else writes them while the
// lock is held. That look at the directory is made here, once the
// operation's files are in place, not before them.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	dir, base := filepath.Split(l.statePath)
	atomicfile.RemoveStaleIn(dir, map[string]bool{base: true, filepath.Base(JournalPath(l.statePath)): true})
	l.f.Truncate(0)
	var err error
	if l.locker != nil {
		// The file stays open for the locker's next Acquire.
		err = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	} else {
		err = l.f.Close() // closing the descriptor releases the flock
	}
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

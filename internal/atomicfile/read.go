package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ReadOptions say how much Read reads and whether it follows a symlink.
type ReadOptions struct {
	// Max is the size cap in bytes: a larger file is refused.
	Max int64
	// FollowSymlink follows a symlink at the path's last component. Only
	// for the operator's own configuration (binding and TLS files), which
	// may legitimately be links; what the link leads to must still be a
	// regular file. Files reconfig writes, replaces or deletes (targets,
	// the state, plans, snapshots) are never followed.
	FollowSymlink bool
}

// RefusedError is a file Read does not read: it is not a regular file, or
// it is larger than the cap.
type RefusedError struct {
	Path string
	// Kind is what the file is instead of a regular file ("symlink",
	// "FIFO", "socket", "character device", "block device", "directory",
	// "irregular file", or "blocking" for a file fstat calls regular
	// whose reads block), or "" when it is a regular file over the cap.
	Kind string
	// Max is the cap a too large file exceeds.
	Max int64
}

func (e *RefusedError) Error() string { return e.Path + " " + e.What() }

// What says what is wrong, to follow the file's name in a message: "is a
// FIFO (named pipe), not a regular file", "is larger than 32 MiB, the most
// reconfig reads here".
func (e *RefusedError) What() string {
	switch e.Kind {
	case "":
		return fmt.Sprintf("is larger than %s, the most reconfig reads here", FormatSize(e.Max))
	case "symlink":
		return "is a symlink"
	case "FIFO":
		return "is a FIFO (named pipe), not a regular file"
	case kindBlocking:
		return "blocks when read: a kernel file that only looks regular, not a file reconfig wrote"
	}
	return "is a " + e.Kind + ", not a regular file"
}

// Symlink reports whether the file was refused for being a symlink.
func (e *RefusedError) Symlink() bool { return e.Kind == "symlink" }

// TooLarge reports whether the file was refused for its size.
func (e *RefusedError) TooLarge() bool { return e.Kind == "" }

// FormatSize writes a cap the way messages show it: "32 MiB", "4 KiB",
// "100 bytes".
func FormatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// kind names what a file of mode m is; "" for a regular file.
func kind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return ""
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "FIFO"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "block device"
	case t&fs.ModeDir != 0:
		return "directory"
	}
	return "irregular file"
}

// OpenRegular opens path with flag (os.O_RDONLY, os.O_RDWR|os.O_CREATE,
// ...) plus O_NOFOLLOW, O_NONBLOCK and O_CLOEXEC, and returns it only if
// it is a regular file, with its fstat. A symlink at the last component
// (ELOOP from O_NOFOLLOW), a FIFO, a socket, a device or a directory is a
// *RefusedError; other failures are the *fs.PathError of the open, so
// errors.Is(err, fs.ErrNotExist) tells a missing file.
//
// What is at path is looked at (lstat) before it is opened, so that a
// device or FIFO already there is never opened at all: opening some
// devices acts (a watchdog starts counting). The fstat of the descriptor
// is what decides; O_NONBLOCK keeps a FIFO or device swapped in between
// from blocking the open.
func OpenRegular(path string, flag int, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	return openRegular(path, flag, perm, false)
}

func openRegular(path string, flag int, perm fs.FileMode, follow bool) (*os.File, fs.FileInfo, error) {
	stat, nofollow := os.Lstat, syscall.O_NOFOLLOW
	if follow {
		stat, nofollow = os.Stat, 0
	}
	if info, err := stat(path); err == nil {
		if k := kind(info.Mode()); k != "" {
			return nil, nil, &RefusedError{Path: path, Kind: k}
		}
	} else if flag&os.O_CREATE == 0 || !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, flag|nofollow|syscall.O_NONBLOCK|syscall.O_CLOEXEC, perm)
	if err != nil {
		if !follow && errors.Is(err, syscall.ELOOP) {
			return nil, nil, &RefusedError{Path: path, Kind: "symlink"}
		}
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if k := kind(info.Mode()); k != "" {
		f.Close()
		return nil, nil, &RefusedError{Path: path, Kind: k}
	}
	return f, info, nil
}

// Read reads the whole regular file at path, for files reconfig did not
// create or that others could have replaced: it opens without following
// a final symlink (unless o.FollowSymlink) and without blocking, refuses
// anything but a regular file (see OpenRegular), and refuses a file larger
// than o.Max — reading at most o.Max+1 bytes whatever the file's stat
// says, so a file that grows, or claims a size of 0 as /proc files do,
// cannot exhaust memory.
func Read(path string, o ReadOptions) ([]byte, fs.FileInfo, error) {
	f, info, err := openRegular(path, os.O_RDONLY, 0, o.FollowSymlink)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if info.Size() > o.Max {
		return nil, nil, &RefusedError{Path: path, Max: o.Max}
	}
	data, err := readCapped(f, info.Size(), o.Max)
	if err != nil {
		switch {
		case errors.Is(err, errTooLarge):
			return nil, nil, &RefusedError{Path: path, Max: o.Max}
		case errors.Is(err, errWouldBlock):
			return nil, nil, &RefusedError{Path: path, Kind: kindBlocking}
		}
		return nil, nil, err
	}
	return data, info, nil
}

var (
	errTooLarge   = errors.New("too large")
	errWouldBlock = errors.New("would block")
)

// kindBlocking is the RefusedError kind of a file that fstat calls
// regular but whose reads block (/proc/kmsg, tracefs pipes).
const kindBlocking = "blocking"

// readCapped reads f to its end, at most limit+1 bytes. size is only a
// hint for the first allocation.
//
// f is open with O_NONBLOCK. Some files that fstat calls regular block
// their readers (/proc/kmsg until the kernel logs something) and can be
// polled, so the os package puts them in its poller and a read that would
// block parks the goroutine until data comes — forever, holding the
// state lock. The reads here go to the descriptor directly: one that
// would block is an error at once.
func readCapped(f *os.File, size, limit int64) ([]byte, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	read := func(p []byte) (int, error) {
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			for {
				n, rerr = syscall.Read(int(fd), p)
				if rerr != syscall.EINTR {
					return true
				}
			}
		}); err != nil {
			return 0, err
		}
		switch {
		case rerr == syscall.EAGAIN:
			return 0, errWouldBlock
		case rerr != nil:
			return 0, &fs.PathError{Op: "read", Path: f.Name(), Err: rerr}
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
	buf := make([]byte, 0, min(max(size, 0), limit)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := int64(cap(buf))
		if end > limit+1 {
			end = limit + 1
		}
		n, err := read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge
		}
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, err
		}
	}
}

// Links is the number of hard links of the file info describes (1 when
// the platform does not say).
func Links(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

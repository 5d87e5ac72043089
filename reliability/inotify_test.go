//go:build linux

package reliability

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dirEvent is one inotify event of a watched directory.
type dirEvent struct {
	Mask uint32
	Name string
}

// dirEvents records, in order, what happens to the entries of a directory
// (inotify): the event a test awaits instead of sleeping, and the proof
// that nothing was written.
type dirEvents struct {
	f      *os.File
	mu     sync.Mutex
	events []dirEvent
	notify chan struct{} // closed and replaced on every new event
}

const dirMask = syscall.IN_CREATE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM | syscall.IN_DELETE |
	syscall.IN_CLOSE_WRITE | syscall.IN_MODIFY | syscall.IN_ATTRIB

func watchDir(t *testing.T, dir string) *dirEvents {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, dirMask); err != nil {
		syscall.Close(fd)
		t.Fatalf("inotify %s: %v", dir, err)
	}
	w := &dirEvents{f: os.NewFile(uintptr(fd), "inotify:"+dir), notify: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := w.f.Read(buf)
			if err != nil {
				return
			}
			var evs []dirEvent
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				mask := binary.NativeEndian.Uint32(buf[off+4:])
				l := int(binary.NativeEndian.Uint32(buf[off+12:]))
				name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+l]
				for len(name) > 0 && name[len(name)-1] == 0 {
					name = name[:len(name)-1]
				}
				evs = append(evs, dirEvent{Mask: mask, Name: string(name)})
				off += syscall.SizeofInotifyEvent + l
			}
			w.mu.Lock()
			w.events = append(w.events, evs...)
			close(w.notify)
			w.notify = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.f.Close(); <-done })
	return w
}

// mark is the number of events so far, to look only at later ones.
func (w *dirEvents) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events)
}

// since returns the events from index from on.
func (w *dirEvents) since(from int) []dirEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]dirEvent(nil), w.events[min(from, len(w.events)):]...)
}

// settle returns a mark after every event of dir so far has been read:
// it makes an event of its own (a sentinel file created and removed) and
// waits for it, since inotify reports a directory's events in order. A mark
// taken right after an awaited change could otherwise still see that
// change's own events arrive after it.
func (w *dirEvents) settle(t *testing.T, dir string) int {
	t.Helper()
	const name = ".settle-sentinel"
	from := w.mark()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if w.wait(from, func(e dirEvent) bool { return e.Name == name && e.Mask&syscall.IN_DELETE != 0 }, nil, 30*time.Second) < 0 {
		t.Fatalf("inotify: the sentinel's events in %s never came", dir)
	}
	return w.mark()
}

// wait waits for an event from index from on that match accepts; it
// returns the index after it, or -1 when stop closes or timeout passes.
func (w *dirEvents) wait(from int, match func(dirEvent) bool, stop <-chan struct{}, timeout time.Duration) int {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for i := from; i < len(w.events); i++ {
			if match(w.events[i]) {
				w.mu.Unlock()
				return i + 1
			}
		}
		from = len(w.events)
		ch := w.notify
		w.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return -1
		case <-deadline:
			return -1
		}
	}
}

// writesTo lists the events of from on that create, replace, change or
// remove name.
func (w *dirEvents) writesTo(from int, name string) []dirEvent {
	var out []dirEvent
	for _, e := range w.since(from) {
		if e.Name == name && e.Mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO|syscall.IN_MODIFY|syscall.IN_DELETE|syscall.IN_MOVED_FROM|syscall.IN_CLOSE_WRITE|syscall.IN_ATTRIB) != 0 {
			out = append(out, e)
		}
	}
	return out
}

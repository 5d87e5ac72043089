//go:build !linux

package reliability

import "testing"

// dirEvent and dirEvents need inotify: on other systems the tests that
// watch a directory fail at once, saying so.
type dirEvent struct {
	Mask uint32
	Name string
}

type dirEvents struct{}

func watchDir(t *testing.T, dir string) *dirEvents {
	t.Helper()
	t.Fatalf("watching %s needs inotify: this test runs on Linux", dir)
	return nil
}

func (w *dirEvents) since(from int) []dirEvent                 { return nil }
func (w *dirEvents) settle(t *testing.T, dir string) int       { return 0 }
func (w *dirEvents) writesTo(from int, name string) []dirEvent { return nil }

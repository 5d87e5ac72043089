//go:build linux

package watch_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/reconfig/reconfig/internal/watch"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// renames reports the names of files renamed into dir, through inotify:
// the moment a target holds its new content.
type renames struct {
	fd int
}

func watchRenames(b testing.TB, dir string) *renames {
	b.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MOVED_TO); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { syscall.Close(fd) })
	return &renames{fd: fd}
}

// next blocks until a file is renamed into the directory and returns its
// name.
func (r *renames) next(b testing.TB) string {
	var buf [syscall.SizeofInotifyEvent + syscall.NAME_MAX + 1]byte
	n, err := syscall.Read(r.fd, buf[:])
	if err != nil || n < syscall.SizeofInotifyEvent {
		b.Fatalf("inotify read: %v", err)
	}
	ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[0]))
	name := buf[syscall.SizeofInotifyEvent : syscall.SizeofInotifyEvent+int(ev.Len)]
	return string(bytes.TrimRight(name, "\x00"))
}

// BenchmarkWatchConvergence measures the time from a Put returning to the
// target file holding the new content (the rename seen through inotify,
// the content then checked), with 100 bindings and no --wait. Each
// iteration is one change; run with -benchtime=1000x (make bench does).
func BenchmarkWatchConvergence(b *testing.B) {
	const n = 100
	srv := etcdtest.Start(b)
	ctx := context.Background()
	data := map[string]string{}
	files := map[string]string{"templates/t.tmpl": kvTemplate}
	for i := range n {
		data[fmt.Sprintf("/svc/%03d/a", i)] = "0"
		files[fmt.Sprintf("conf.d/b%03d", i)] = fmt.Sprintf(`{"id": "b%03d", "key": "/svc/%03d", "recursive": true, "source": "t.tmpl", "target": "$OUT/b%03d.conf"}`, i, i, i)
	}
	if _, err := srv.Load(ctx, data); err != nil {
		b.Fatal(err)
	}
	h := newBenchHarness(b, files)
	h.start([]string{srv.ClientURL}, nil)
	h.await("the first cycle", 30*time.Second, func(c watch.Cycle) bool { return c.Result != nil })
	rn := watchRenames(b, h.out)

	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		id := i % n
		name := fmt.Sprintf("b%03d.conf", id)
		want := fmt.Sprintf("a=%d\n", i)
		rev, err := srv.Put(ctx, fmt.Sprintf("/svc/%03d/a", id), fmt.Sprint(i))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for rn.next(b) != name {
		}
		lat = append(lat, time.Since(start))
		if got, err := os.ReadFile(filepath.Join(h.out, name)); err != nil || string(got) != want {
			b.Fatalf("%s holds %q after its rename, want %q", name, got, want)
		}
		// Let the cycle finish (directory fsync, state record) before the
		// next change, so each change is measured on its own.
		h.await("the cycle to end", 30*time.Second, func(c watch.Cycle) bool { return c.Revision >= rev })
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1.0), "max-ms")
}

// BenchmarkBurstSlowReload puts 1,000 changes of one key, one every
// millisecond, at a daemon whose reload command takes 200 ms (no --wait):
// every event that arrived during a cycle goes into the next one, so the
// daemon stays about one cycle behind whatever the rate. It reports how
// long after the last put the target held the last value, and how many
// reloads ran. Run with -benchtime=1x.
func BenchmarkBurstSlowReload(b *testing.B) {
	const puts = 1000
	srv := etcdtest.Start(b)
	ctx := context.Background()
	if _, err := srv.Put(ctx, "/burst/n", "0"); err != nil {
		b.Fatal(err)
	}
	reloads := filepath.Join(b.TempDir(), "reloads")
	h := newBenchHarness(b, map[string]string{
		"templates/t.tmpl": `n={{getv "/burst/n"}}`,
		"conf.d/b": `{"id": "b", "key": "/burst", "recursive": true, "source": "t.tmpl", "target": "$OUT/b.conf",
			"reloadcmd": "echo >> ` + reloads + `; sleep 0.2"}`,
	})
	h.start([]string{srv.ClientURL}, nil)
	h.await("the first cycle", 30*time.Second, func(c watch.Cycle) bool { return c.Result != nil })
	var converge, total time.Duration
	var cycles int
	for b.Loop() {
		os.Remove(reloads)
		start := time.Now()
		var last int64
		tick := time.NewTicker(time.Millisecond)
		for i := 1; i <= puts; i++ {
			<-tick.C
			rev, err := srv.Put(ctx, "/burst/n", fmt.Sprint(i))
			if err != nil {
				b.Fatal(err)
			}
			last = rev
		}
		tick.Stop()
		putsDone := time.Now()
		h.await("the last put's cycle", 60*time.Second, func(c watch.Cycle) bool { return c.Revision >= last && c.Result != nil })
		converge += time.Since(putsDone)
		total += time.Since(start)
		data, _ := os.ReadFile(reloads)
		cycles += bytes.Count(data, []byte("\n"))
	}
	b.ReportMetric(float64(converge.Milliseconds())/float64(b.N), "converge-after-last-put-ms")
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "burst-ms")
	b.ReportMetric(float64(cycles)/float64(b.N), "reloads")
}

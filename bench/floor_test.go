//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// The floors (bench/floor) are the least any tool can do for reconfig's
// durable result. These benchmarks run them interleaved with reconfig —
// the same etcd, the same changes, the same filesystem, one after the
// other — and report each figure beside the floor's and as a ratio of the
// two, because on a shared machine absolute times move between runs far
// more than the ratio does. reconfig runs as the binary `go build` makes
// of this module, as it ships, like the floors.

// floorWatchChanges is how many changes each of reconfig and the watch
// floor converges in one run of BenchmarkFloorWatch; floorOneShotRuns is
// how many runs each of `reconfig apply` and the one-shot floor makes in
// one run of BenchmarkFloorOneShot.
const (
	floorWatchChanges = 1000
	floorOneShotRuns  = 15
)

// buildBinaries builds reconfig and the floors into a temporary directory;
// RECONFIG_BENCH_BINARY names another reconfig to measure (a profiling
// build, an older release).
func buildBinaries(b *testing.B) (reconfig, watchFloor, oneShotFloor string) {
	b.Helper()
	dir := b.TempDir()
	for _, pkg := range []string{"github.com/reconfig/reconfig", "github.com/reconfig/reconfig/bench/floor/watch", "github.com/reconfig/reconfig/bench/floor/oneshot"} {
		out := filepath.Join(dir, filepath.Base(pkg))
		if pkg == "github.com/reconfig/reconfig" {
			out = filepath.Join(dir, "reconfig")
		}
		if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	reconfig = filepath.Join(dir, "reconfig")
	if bin := os.Getenv(benchBinary); bin != "" {
		reconfig = bin
	}
	return reconfig, filepath.Join(dir, "watch"), filepath.Join(dir, "oneshot")
}

// dirRenames reports, through inotify, each file renamed into a directory,
// with the time it was seen.
type dirRenames struct {
	f  *os.File
	ch chan renamed
}

type renamed struct {
	name string
	at   time.Time
}

func watchDir(b *testing.B, dir string) *dirRenames {
	b.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MOVED_TO); err != nil {
		b.Fatal(err)
	}
	// Through the runtime's poller, so that closing it ends the reader.
	r := &dirRenames{f: os.NewFile(uintptr(fd), "inotify"), ch: make(chan renamed, 100000)}
	go func() {
		var buf [64 << 10]byte
		for {
			n, err := r.f.Read(buf[:])
			if err != nil || n <= 0 {
				close(r.ch)
				return
			}
			at := time.Now()
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
				r.ch <- renamed{name: string(bytes.TrimRight(name, "\x00")), at: at}
				off += syscall.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}()
	b.Cleanup(func() { r.f.Close() })
	return r
}

// await returns when name was renamed into the directory.
func (r *dirRenames) await(b *testing.B, name string) time.Time {
	b.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev := <-r.ch:
			if ev.name == name {
				return ev.at
			}
		case <-timeout:
			b.Fatalf("%s was not renamed within 60s", name)
		}
	}
}

// revisions sends each revision a process reports on a line, as the
// first submatch of re.
func revisions(r io.Reader, re *regexp.Regexp) <-chan int64 {
	ch := make(chan int64, 100000)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				rev, _ := strconv.ParseInt(m[1], 10, 64)
				ch <- rev
			}
		}
	}()
	return ch
}

func awaitRevision(b *testing.B, ch <-chan int64, rev int64, what string) {
	b.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				b.Fatalf("%s exited before revision %d", what, rev)
			}
			if got >= rev {
				return
			}
		case <-timeout:
			b.Fatalf("%s did not finish revision %d within 60s", what, rev)
		}
	}
}

// startProcess starts cmd, its stdout or stderr read by lines, and stops
// it with SIGTERM when the benchmark ends.
func startProcess(b *testing.B, cmd *exec.Cmd, stderr bool, re *regexp.Regexp) <-chan int64 {
	b.Helper()
	var pipe io.Reader
	var err error
	if stderr {
		pipe, err = cmd.StderrPipe()
	} else {
		pipe, err = cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return revisions(pipe, re)
}

// quantileMS is the q-quantile of sorted durations, in milliseconds.
func quantileMS(sorted []time.Duration, q float64) float64 {
	return float64(sorted[int(q*float64(len(sorted)-1))].Microseconds()) / 1000
}

// BenchmarkFloorWatch: `reconfig watch` and the watch floor, 100
// bindings of one key each, every change timed from its Put returning to
// the rename of its target, seen through inotify. Each watches its own
// copy of the keys (/svc/NNN/a and /floor/NNN/a) in one etcd, and the
// changes alternate between the two, each made once the previous one's
// cycle ended (reconfig: its log line, after the state is recorded; the
// floor: its output line, after the directory fsync), so neither
// competes with the other for the machine.
func BenchmarkFloorWatch(b *testing.B) {
	const n = 100
	reconfig, floorBin, _ := buildBinaries(b)
	srv := etcdtest.Start(b)
	ctx := context.Background()
	cfg, outR, outF := b.TempDir(), b.TempDir(), b.TempDir()
	data := map[string]string{}
	os.MkdirAll(filepath.Join(cfg, "conf.d"), 0o755)
	os.MkdirAll(filepath.Join(cfg, "templates"), 0o755)
	os.WriteFile(filepath.Join(cfg, "templates", "t.tmpl"), []byte("{{range $k, $v := .Data}}{{base $k}}={{$v}}\n{{end}}"), 0o644)
	for i := range n {
		data[fmt.Sprintf("/svc/%03d/a", i)] = "0"
		data[fmt.Sprintf("/floor/%03d/a", i)] = "0"
		os.WriteFile(filepath.Join(cfg, "conf.d", fmt.Sprintf("b%03d.json", i)), fmt.Appendf(nil,
			`{"key": "/svc/%03d", "recursive": true, "source": "t.tmpl", "target": "%s/b%03d.conf"}`, i, outR, i), 0o644)
	}
	if _, err := srv.Load(ctx, data); err != nil {
		b.Fatal(err)
	}

	rcmd := exec.Command(reconfig, "watch")
	rcmd.Env = append(os.Environ(), "RECONFIG_ENDPOINTS="+srv.ClientURL, "RECONFIG_CFGDIR="+cfg, "NO_COLOR=1")
	rdone := startProcess(b, rcmd, true, regexp.MustCompile(`msg="target (?:created|updated)".* revision=(\d+)`))
	for range n {
		awaitRevision(b, rdone, 0, "reconfig watch")
	}
	fcmd := exec.Command(floorBin, "-endpoint", srv.ClientURL, "-prefix", "/floor", "-out", outF)
	fdone := startProcess(b, fcmd, false, regexp.MustCompile(`^(?:ready )?(\d+)$`))
	awaitRevision(b, fdone, 0, "the watch floor")
	rnR, rnF := watchDir(b, outR), watchDir(b, outF)

	type system struct {
		name   string
		prefix string
		out    string
		rn     *dirRenames
		done   <-chan int64
		lat    []time.Duration
	}
	systems := []*system{
		{name: "reconfig", prefix: "/svc", out: outR, rn: rnR, done: rdone},
		{name: "floor", prefix: "/floor", out: outF, rn: rnF, done: fdone},
	}
	change := func(s *system, i int) {
		id := i % n
		name := fmt.Sprintf("b%03d.conf", id)
		want := fmt.Sprintf("a=%d\n", i)
		rev, err := srv.Put(ctx, fmt.Sprintf("%s/%03d/a", s.prefix, id), strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		at := s.rn.await(b, name)
		s.lat = append(s.lat, at.Sub(start))
		if got, err := os.ReadFile(filepath.Join(s.out, name)); err != nil || string(got) != want {
			b.Fatalf("%s: %s holds %q after its rename, want %q", s.name, name, got, want)
		}
		awaitRevision(b, s.done, rev, s.name)
	}
	for b.Loop() {
		for i := 1; i <= floorWatchChanges; i++ {
			// Alternate which goes first, so neither always follows the
			// other's cycle.
			first, second := systems[0], systems[1]
			if i%2 == 0 {
				first, second = second, first
			}
			change(first, i)
			change(second, i)
		}
	}
	r, f := systems[0].lat, systems[1].lat
	slices.Sort(r)
	slices.Sort(f)
	b.ReportMetric(quantileMS(r, 0.5), "reconfig-p50-ms")
	b.ReportMetric(quantileMS(f, 0.5), "floor-p50-ms")
	b.ReportMetric(quantileMS(r, 0.5)/quantileMS(f, 0.5), "p50-ratio")
	b.ReportMetric(quantileMS(r, 0.99), "reconfig-p99-ms")
	b.ReportMetric(quantileMS(f, 0.99), "floor-p99-ms")
	b.ReportMetric(quantileMS(r, 0.99)/quantileMS(f, 0.99), "p99-ratio")
}

// BenchmarkFloorOneShot: `reconfig apply --auto-approve` and the one-shot
// floor, each creating the 200 targets of 200 bindings × 50 keys, timed
// from the process's start to the rename of its last target (seen through
// inotify) and to its exit; the runs alternate, every target and
// reconfig's state removed before each.
func BenchmarkFloorOneShot(b *testing.B) {
	const n, keys = 200, 50
	reconfig, _, floorBin := buildBinaries(b)
	s := newScale(b, n, keys)
	outF := b.TempDir()
	type system struct {
		name       string
		out        string
		cmd        func() *exec.Cmd
		last, exit []time.Duration
	}
	systems := []*system{
		{name: "reconfig", out: s.out, cmd: func() *exec.Cmd {
			cmd := exec.Command(reconfig, "apply", "--auto-approve")
			cmd.Env = append(os.Environ(), "RECONFIG_ENDPOINTS="+s.srv.ClientURL, "RECONFIG_CFGDIR="+s.cfg, "NO_COLOR=1")
			return cmd
		}},
		{name: "floor", out: outF, cmd: func() *exec.Cmd {
			return exec.Command(floorBin, "-endpoint", s.srv.ClientURL, "-prefix", "/svc", "-out", outF)
		}},
	}
	run := func(sys *system) {
		s.reset(b)
		os.RemoveAll(outF)
		os.MkdirAll(outF, 0o755)
		rn := watchDir(b, sys.out)
		cmd := sys.cmd()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		err := cmd.Wait()
		exit := time.Since(start)
		if err != nil {
			b.Fatalf("%s: %v\n%s", sys.name, err, out.Bytes())
		}
		var last time.Time
		for range n {
			var ev renamed
			select {
			case ev = <-rn.ch:
			case <-time.After(10 * time.Second):
				b.Fatalf("%s: fewer than %d renames", sys.name, n)
			}
			if strings.HasPrefix(ev.name, ".") {
				b.Fatalf("%s: unexpected rename of %s", sys.name, ev.name)
			}
			last = ev.at
		}
		rn.f.Close()
		sys.last = append(sys.last, last.Sub(start))
		sys.exit = append(sys.exit, exit)
		want := fmt.Sprintf("backend b%05d.json\n    server host-000 %s\n", n-1, value(n-1, 0))
		if got, err := os.ReadFile(filepath.Join(sys.out, fmt.Sprintf("b%05d.conf", n-1))); err != nil || !strings.HasPrefix(string(got), want) {
			b.Fatalf("%s: the last target holds %.80q, want %.80q…", sys.name, got, want)
		}
	}
	for b.Loop() {
		for i := range floorOneShotRuns {
			first, second := systems[0], systems[1]
			if i%2 == 1 {
				first, second = second, first
			}
			run(first)
			run(second)
		}
	}
	med := func(d []time.Duration) float64 {
		d = slices.Clone(d)
		slices.Sort(d)
		return quantileMS(d, 0.5)
	}
	r, f := systems[0], systems[1]
	b.ReportMetric(med(r.last), "reconfig-last-rename-ms")
	b.ReportMetric(med(f.last), "floor-last-rename-ms")
	b.ReportMetric(med(r.last)/med(f.last), "last-rename-ratio")
	b.ReportMetric(med(r.exit), "reconfig-exit-ms")
	b.ReportMetric(med(f.exit), "floor-exit-ms")
	b.ReportMetric(med(r.exit)/med(f.exit), "exit-ratio")
}

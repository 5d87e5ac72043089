package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reconfig/reconfig/apply"
	"github.com/reconfig/reconfig/internal/engine"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/watch"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
)

// sizes are the bindings × keys-per-binding a benchmark runs at: the
// headline 1,000 × 100 (100,000 keys), and 100 / 1,000 / 10,000 bindings of
// 10 keys to show how the cost grows with the number of bindings.
var sizes = []struct{ bindings, keys int }{
	{1000, 100},
	{100, 10}, {1000, 10}, {10000, 10},
}

func sizeName(n, k int) string { return fmt.Sprintf("bindings=%d/keys=%d", n, k) }

// BenchmarkPlan: one snapshot, render and compare of every binding (the
// targets exist and match: the steady state).
func BenchmarkPlan(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sizeName(sz.bindings, sz.keys), func(b *testing.B) {
			s := newScale(b, sz.bindings, sz.keys)
			cli := s.client(b)
			p, _ := s.plan(b, cli, state.New())
			if r := apply.Execute(context.Background(), p, apply.Options{}); r.Failed() {
				b.Fatal("setup apply failed")
			}
			var stats struct{ trips, keys int }
			for b.Loop() {
				p, st := s.plan(b, cli, state.New())
				if p.Counts()[plan.NoOp] != sz.bindings {
					b.Fatalf("plan: %v", p.Counts())
				}
				stats.trips, stats.keys = st.RoundTrips, st.Keys
			}
			b.ReportMetric(float64(stats.trips), "roundtrips/op")
			b.ReportMetric(float64(stats.keys)/float64(max(stats.trips, 1)), "keys/roundtrip")
		})
	}
}

// BenchmarkApply: plan and apply creating every target (staged and fsynced
// concurrently, renamed, one directory fsync) and recording the state.
func BenchmarkApply(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sizeName(sz.bindings, sz.keys), func(b *testing.B) {
			s := newScale(b, sz.bindings, sz.keys)
			cli := s.client(b)
			statePath := filepath.Join(s.cfg, "state.json")
			for b.Loop() {
				b.StopTimer()
				s.reset(b)
				b.StartTimer()
				st := state.New()
				p, _ := s.plan(b, cli, st)
				r := apply.Execute(context.Background(), p, apply.Options{})
				if r.Summary().Created != sz.bindings {
					b.Fatalf("apply: %+v", r.Summary())
				}
				r.Record(st, p, time.Now())
				if err := st.Save(statePath); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// grpcHandled sums etcd's grpc_server_handled_total (or started, for
// streams) for a method, from the in-process etcd's metrics.
func grpcCount(b testing.TB, metric, method string) float64 {
	b.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "grpc_method" && l.GetValue() == method {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// BenchmarkEtcdRequests counts what reconfig asks of etcd: the range reads
// (Range, and Txn batches of ranges) of one apply of 1,000 bindings ×
// 100 keys, and the reads and watch streams of 1,000 watch-driven changes.
// The goal is O(keys/1000) reads per snapshot and none per event.
func BenchmarkEtcdRequests(b *testing.B) {
	s := newScale(b, 1000, 100)
	cli := s.client(b)
	b.Run("apply", func(b *testing.B) {
		var reads float64
		for b.Loop() {
			b.StopTimer()
			s.reset(b)
			before := grpcCount(b, "grpc_server_handled_total", "Range") + grpcCount(b, "grpc_server_handled_total", "Txn")
			b.StartTimer()
			p, _ := s.plan(b, cli, state.New())
			apply.Execute(context.Background(), p, apply.Options{})
			b.StopTimer()
			reads = grpcCount(b, "grpc_server_handled_total", "Range") + grpcCount(b, "grpc_server_handled_total", "Txn") - before
			b.StartTimer()
		}
		b.ReportMetric(reads, "etcd-reads/op")
		b.ReportMetric(100000/max(reads, 1), "keys/read")
	})
	b.Run("watch-1000-changes", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.reset(b)
			d := startDaemon(b, s, 0, 0, nil)
			d.awaitCycles(b, 1)
			reads0 := grpcCount(b, "grpc_server_handled_total", "Range") + grpcCount(b, "grpc_server_handled_total", "Txn")
			streams0 := grpcCount(b, "grpc_server_started_total", "Watch")
			b.StartTimer()
			for i := range 1000 {
				want := fmt.Sprint(i)
				if _, err := s.srv.Put(context.Background(), key(i%s.n, 0), want); err != nil {
					b.Fatal(err)
				}
				d.awaitContent(b, filepath.Join(s.out, fmt.Sprintf("b%05d.conf", i%s.n)), "host-000 "+want+"\n")
			}
			b.StopTimer()
			reads := grpcCount(b, "grpc_server_handled_total", "Range") + grpcCount(b, "grpc_server_handled_total", "Txn") - reads0
			streams := grpcCount(b, "grpc_server_started_total", "Watch") - streams0
			d.stop(b)
			b.ReportMetric(reads/1000, "etcd-reads/event")
			b.ReportMetric(streams, "new-watch-streams")
			b.StartTimer()
		}
	})
}

// daemon is the watch daemon running in this process.
type daemon struct {
	cancel context.CancelFunc
	done   chan error
	cycles chan watch.Cycle
	n      atomic.Int64
}

func startDaemon(b testing.TB, s *scale, waitMin, waitMax time.Duration, reload func(*watch.Options)) *daemon {
	b.Helper()
	d := &daemon{done: make(chan error, 1), cycles: make(chan watch.Cycle, 100000)}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	cfg := &engine.Config{Set: s.set, Templates: s.tmpls}
	o := watch.Options{
		Load: func() (*engine.Config, error) { return cfg, nil },
		Connect: func(ctx context.Context) (*etcd.Client, error) {
			return etcd.Connect(ctx, etcd.Config{Endpoints: []string{s.srv.ClientURL}})
		},
		StatePath: filepath.Join(s.cfg, "state.json"),
		WaitMin:   waitMin, WaitMax: waitMax,
		OnCycle: func(c watch.Cycle) { d.n.Add(1); d.cycles <- c },
	}
	if reload != nil {
		reload(&o)
	}
	go func() { d.done <- watch.Run(ctx, o) }()
	return d
}

func (d *daemon) awaitCycles(b testing.TB, n int) {
	b.Helper()
	for range n {
		select {
		case <-d.cycles:
		case <-time.After(60 * time.Second):
			b.Fatal("no cycle within 60s")
		}
	}
}

// awaitContent waits for cycles until path holds content.
func (d *daemon) awaitContent(b testing.TB, path, content string) {
	b.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if got, err := os.ReadFile(path); err == nil && strings.Contains(string(got), content) {
			return
		}
		select {
		case <-d.cycles:
		case <-deadline:
			b.Fatalf("%s never held %q", path, content)
		}
	}
}

func (d *daemon) stop(b testing.TB) {
	d.cancel()
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		b.Fatal("daemon did not stop")
	}
}

// BenchmarkWatchBurst: 10,000 puts over one second to keys read by 50
// bindings sharing one reload command, with --wait 100ms: the time from the
// last put to convergence, and the renders and reloads it took.
func BenchmarkWatchBurst(b *testing.B) {
	s := newScale(b, 50, 10)
	reloads := filepath.Join(b.TempDir(), "reloads")
	for _, bd := range s.set.Bindings {
		bd.ReloadCmd = "echo reload >> " + reloads
	}
	var converge time.Duration
	var renders, nreloads, cycles int
	for b.Loop() {
		b.StopTimer()
		s.reset(b)
		os.Remove(reloads)
		var rendered atomic.Int64
		d := startDaemon(b, s, 100*time.Millisecond, 400*time.Millisecond, func(o *watch.Options) {
			next := o.OnCycle
			o.OnCycle = func(c watch.Cycle) {
				if c.Plan != nil {
					rendered.Add(int64(len(c.Plan.Changes)))
				}
				next(c)
			}
		})
		d.awaitCycles(b, 1)
		rendered.Store(0)
		c0 := d.n.Load()
		os.Remove(reloads)
		b.StartTimer()
		start := time.Now()
		const puts = 10000
		for i := range puts {
			// Spread the puts over about one second.
			if due := start.Add(time.Duration(i) * time.Second / puts); time.Until(due) > 0 {
				time.Sleep(time.Until(due))
			}
			if _, err := s.srv.Put(context.Background(), key(i%50, i%10), fmt.Sprintf("v%d", i)); err != nil {
				b.Fatal(err)
			}
		}
		last := time.Now()
		for i := puts - 50; i < puts; i++ {
			d.awaitContent(b, filepath.Join(s.out, fmt.Sprintf("b%05d.conf", i%50)), fmt.Sprintf("host-%03d v%d\n", i%10, i))
		}
		converge = time.Since(last)
		b.StopTimer()
		renders, cycles = int(rendered.Load()), int(d.n.Load()-c0)
		data, _ := os.ReadFile(reloads)
		nreloads = strings.Count(string(data), "\n")
		d.stop(b)
		b.StartTimer()
	}
	b.ReportMetric(float64(converge.Microseconds())/1000, "converge-ms")
	b.ReportMetric(float64(renders), "renders")
	b.ReportMetric(float64(cycles), "cycles")
	b.ReportMetric(float64(nreloads), "reloads")
}

// peakRSS runs cmd to completion and returns its peak resident memory
// (VmHWM), as the process itself reported it when it exited.
func peakRSS(b testing.TB, cmd *exec.Cmd) float64 {
	b.Helper()
	status := filepath.Join(b.TempDir(), "status")
	cmd.Env = append(cmd.Env, peakFile+"="+status)
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	return statusMiB(b, status, "VmHWM:")
}

// statusMiB reads a field of a /proc/PID/status file, in MiB.
func statusMiB(b testing.TB, path, field string) float64 {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in %s", field, path)
	return 0
}

// BenchmarkMemory: the peak RSS of `reconfig apply` of 1,000 bindings ×
// 100 keys, and the resident memory of an idle `reconfig watch` with 1,000
// and 10,000 bindings — reconfig as a process of its own.
func BenchmarkMemory(b *testing.B) {
	b.Run("apply/"+sizeName(1000, 100), func(b *testing.B) {
		s := newScale(b, 1000, 100)
		var rss float64
		for b.Loop() {
			b.StopTimer()
			s.reset(b)
			b.StartTimer()
			rss = peakRSS(b, s.reconfig("apply", "--auto-approve"))
		}
		b.ReportMetric(rss, "peak-RSS-MiB")
	})
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("idle-watch/%s", sizeName(n, 10)), func(b *testing.B) {
			s := newScale(b, n, 10)
			var rss float64
			for b.Loop() {
				b.StopTimer()
				s.reset(b)
				cmd := s.reconfig("watch")
				stderr, _ := cmd.StderrPipe()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				// Idle once the first cycle wrote every target.
				created := 0
				sc := bufio.NewScanner(stderr)
				for created < n && sc.Scan() {
					if strings.Contains(sc.Text(), "target created") {
						created++
					}
				}
				go func() {
					for sc.Scan() {
					}
				}()
				rss = settledRSS(b, cmd.Process.Pid)
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
				b.StartTimer()
			}
			b.ReportMetric(rss, "idle-RSS-MiB")
		})
	}
}

// settledRSS reads a process's resident memory once two readings a second
// apart agree within 1%.
func settledRSS(b testing.TB, pid int) float64 {
	b.Helper()
	path := fmt.Sprintf("/proc/%d/status", pid)
	prev := statusMiB(b, path, "VmRSS:")
	for range 30 {
		time.Sleep(time.Second)
		cur := statusMiB(b, path, "VmRSS:")
		if cur > prev*0.99 && cur < prev*1.01 {
			return cur
		}
		prev = cur
	}
	return prev
}

// BenchmarkStartup: from starting `reconfig plan` with 100 bindings to its
// first byte of output (one round trip to etcd included).
func BenchmarkStartup(b *testing.B) {
	s := newScale(b, 100, 10)
	var total time.Duration
	var runs int
	for b.Loop() {
		cmd := s.reconfig("plan")
		out, _ := cmd.StdoutPipe()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		one := make([]byte, 1)
		if _, err := out.Read(one); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		runs++
		b.StopTimer()
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := out.Read(buf); err != nil {
					return
				}
			}
		}()
		cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(runs), "ms-to-first-output")
}

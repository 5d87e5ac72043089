//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// The fleet benchmark (make bench-fleet; BENCHMARKS.md "Fleet at scale")
// runs N reconfig watch daemons, each a process with its own cfgdir,
// targets, state and name, against one etcd process, then the same fleet
// through etcd's gRPC proxy, then N confd processes on the same changes.
// It is heavy (N=200 by default), so it runs only when asked for:
//
//	RECONFIG_BENCH_FLEET=1          run it
//	RECONFIG_BENCH_FLEET_N          daemons (200)
//	RECONFIG_BENCH_FLEET_CHANGES    changes measured (20)
//	RECONFIG_BENCH_FLEET_STATUS     on, off or auto (auto: --fleet when
//	                                the binary has it)
//	RECONFIG_BENCH_FLEET_PHASES     which of direct,proxy,confd,canary to run (all)
//	RECONFIG_BENCH_FLEET_FOLLOWERS  followers of the one canary (50)
//	RECONFIG_BENCH_CONFD            the confd binary (bench/fleet/build-confd.sh)
//	RECONFIG_BENCH_BINARY           a reconfig binary (default: go build)
const (
	fleetEnv        = "RECONFIG_BENCH_FLEET"
	fleetNEnv       = "RECONFIG_BENCH_FLEET_N"
	fleetChangesEnv = "RECONFIG_BENCH_FLEET_CHANGES"
	fleetStatusEnv  = "RECONFIG_BENCH_FLEET_STATUS"
	fleetPhasesEnv  = "RECONFIG_BENCH_FLEET_PHASES"
	followersEnv    = "RECONFIG_BENCH_FLEET_FOLLOWERS"
	confdEnv        = "RECONFIG_BENCH_CONFD"
)

// fleetGap is the time from one change to the next: the fleet converges
// and its status writes settle (at most one a second per host) within it.
const fleetGap = 3 * time.Second

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// bench is one run of the fleet benchmark.
type fleetBench struct {
	t       *testing.T
	n       int
	changes int
	// followers: of the one canary in the canary phase.
	followers int
	etcd      *etcdProc
	cli       *etcd.Client
	bin       string
	status    bool
	// waits: the binary has `reconfig fleet wait`.
	waits bool
	root  string
	out   io.Writer
	seq   int // markers
}

func TestFleet(t *testing.T) {
	if os.Getenv(fleetEnv) == "" {
		t.Skip("SKIPPED: the fleet benchmark runs only when asked for: make bench-fleet (or " + fleetEnv + "=1)")
	}
	b := &fleetBench{t: t, n: envInt(fleetNEnv, 200), changes: envInt(fleetChangesEnv, 20), followers: envInt(followersEnv, 50),
		root: t.TempDir(), out: os.Stdout}
	b.bin = reconfigBinary(t)
	b.status = statusMode(t, b.bin)
	help, _ := exec.Command(b.bin, "fleet", "wait", "--help").CombinedOutput()
	b.waits = b.status && strings.Contains(string(help), "--min-hosts")
	b.etcd = startEtcd(t)
	cli, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: []string{b.etcd.client}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	b.cli = cli
	b.seed()
	b.printf("fleet benchmark: N=%d, %d changes, reconfig watch --fleet: %v, fleet wait: %v, etcd %s (one process, loopback), GOMAXPROCS of the machine: %d cores\n",
		b.n, b.changes, b.status, b.waits, b.etcd.bin, numCPU())

	phases := os.Getenv(fleetPhasesEnv)
	want := func(p string) bool { return phases == "" || slices.Contains(strings.Split(phases, ","), p) }
	var results []*fleetResult
	if want("direct") {
		results = append(results, b.direct())
	}
	if want("proxy") {
		results = append(results, b.proxied())
	}
	if want("confd") {
		if r := b.confd(); r != nil {
			results = append(results, r)
		}
	}
	if want("canary") && b.waits {
		results = append(results, b.canary()...)
	}
	b.summary(results)
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "processor\t:")
}

func (b *fleetBench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

// reconfigBinary builds reconfig once (or takes RECONFIG_BENCH_BINARY).
func reconfigBinary(t *testing.T) string {
	if bin := os.Getenv(benchBinary); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "reconfig")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/reconfig/reconfig").CombinedOutput()
	if err != nil {
		t.Fatalf("go build reconfig: %v\n%s", err, out)
	}
	return bin
}

// statusMode decides whether the daemons run with --fleet.
func statusMode(t *testing.T, bin string) bool {
	help, _ := exec.Command(bin, "watch", "--help").CombinedOutput()
	has := strings.Contains(string(help), "--fleet")
	switch os.Getenv(fleetStatusEnv) {
	case "on":
		if !has {
			t.Fatalf("%s=on, but %s watch has no --fleet", fleetStatusEnv, bin)
		}
		return true
	case "off":
		return false
	}
	return has
}

// seed writes the service's backends and every host's own key.
func (b *fleetBench) seed() {
	for i := range svcBackends {
		put(b.t, b.cli, fmt.Sprintf("%s/b%02d", svcPrefix, i), backendValue(i, "seed"))
	}
	for i := range max(b.n, b.followers+1) {
		put(b.t, b.cli, hostKey(i), fmt.Sprintf("h%04d", i))
	}
}

func (b *fleetBench) marker(what string) string {
	b.seq++
	return fmt.Sprintf("gen-%05d-%s", b.seq, what)
}

func (b *fleetBench) etcdMetrics() metrics {
	m, err := scrape(b.etcd.client + "/metrics")
	if err != nil {
		b.t.Fatalf("etcd metrics: %v", err)
	}
	return m
}

// fleetResult is what one fleet measured.
type fleetResult struct {
	name              string
	n                 int
	startup           time.Duration
	conv              []time.Duration // per change: put returned → last target
	first             []time.Duration // per change: put returned → member 0's target (the canary)
	member            []time.Duration // every member's latency of every change
	slowest           []int           // per change: the member last to converge
	wait              []time.Duration // fleet wait's own time, per change
	idle              etcdCost        // per second
	perChange         etcdCost        // net of idle
	watchers, streams float64
	etcdRSS           float64
	daemonRSS         float64 // mean per daemon
	daemonCPU         float64 // seconds per change, whole fleet
	statusPerHost     float64 // status writes (transactions) per host per change
	statusKeysPerHost float64 // keys they wrote
	rawCPU            float64 // etcd's CPU seconds per change, idle not taken off
	burstWrites       float64 // status writes per host for a burst of ten in a second
	burstConv         time.Duration
	burstSpan         time.Duration // the first put sent → the last returned
	burstKeys         float64       // keys written per host (a status write is two: status and brief)
	storm             *stormResult
	proxyCPU          float64 // grpc-proxy's CPU seconds per change
	otherRewrites     int
	missed            int // daemons that did not converge within 60 s, over all changes
}

func (b *fleetBench) newFleet(k kind, bin, endpoint, group string, status bool) *fleetRun {
	return newFleet(b.t, k, bin, endpoint, filepath.Join(b.root, group), group, b.n, status)
}

// up starts a fleet and reports how long it took.
func (b *fleetBench) up(f *fleetRun, r *fleetResult) {
	marker := b.marker("start")
	put(b.t, b.cli, changedKey, backendValue(0, marker))
	r.startup = f.start(marker, 10)
	if b.waits && f.kind == reconfigFleet {
		// Every status is there once `fleet wait` sees N hosts (confd
		// reports nothing).
		if _, err := b.fleetWait(f, 0, 120*time.Second); err != nil {
			b.t.Fatalf("fleet wait after start: %v", err)
		}
	}
	b.printf("%s: %d daemons up in %s\n", r.name, len(f.members), r.startup.Round(time.Millisecond))
}

// idle measures what the fleet costs etcd while nothing changes.
func (b *fleetBench) idle(f *fleetRun, r *fleetResult, d time.Duration) {
	time.Sleep(fleetGap) // the start's own writes settle
	a := b.etcdMetrics()
	began := time.Now()
	time.Sleep(d)
	z := b.etcdMetrics()
	window := time.Since(began)
	r.idle = costBetween(a, z, window).times(1 / window.Seconds())
	r.watchers = z.sum("etcd_debugging_mvcc_watcher_total")
	r.streams = z.sum("etcd_debugging_mvcc_watch_stream_total")
	r.etcdRSS = z.sum("process_resident_memory_bytes")
	r.daemonRSS = rssBytes(f.pids()) / float64(len(f.pids()))
}

// measure runs count changes of the shared key, one every fleetGap, and
// times the fleet's convergence (and `fleet wait`'s, when withWait).
func (b *fleetBench) measure(f *fleetRun, r *fleetResult, count int, withWait bool, proxyPID int) {
	others0, _ := f.targets.counts()
	a := b.etcdMetrics()
	cpu0, pcpu0 := cpuSeconds(f.pids()), cpuSeconds([]int{proxyPID})
	began := time.Now()
	for range count {
		start := time.Now()
		marker := b.marker(f.group)
		done := f.targets.expect(marker)
		rev, returned := put(b.t, b.cli, changedKey, backendValue(0, marker))
		f.targets.restart(returned)
		var waited time.Duration
		if withWait {
			d, err := b.fleetWait(f, rev, 60*time.Second)
			if err != nil {
				b.t.Errorf("fleet wait --revision %d: %v", rev, err)
			}
			waited = d
		}
		seen, missing := f.targets.wait(done, 60*time.Second)
		last := slices.Max(seen)
		if len(missing) > 0 {
			// Counted and shown; the run goes on, so that the table says
			// what the rest measured.
			b.t.Errorf("%s: %d daemons without the change after 60 s (first: %d):\n%s", r.name, len(missing), missing[0],
				tail(filepath.Join(f.members[missing[0]].dir, "log"), 3000))
			r.missed += len(missing)
			last = 60 * time.Second
		}
		r.conv = append(r.conv, last)
		r.first = append(r.first, seen[0])
		r.slowest = append(r.slowest, slices.Index(seen, last))
		r.member = append(r.member, seen...)
		if withWait {
			r.wait = append(r.wait, waited)
		}
		time.Sleep(time.Until(start.Add(fleetGap)))
	}
	z := b.etcdMetrics()
	window := time.Since(began)
	c := costBetween(a, z, window)
	// The benchmark's own puts are not the fleet's.
	c.Put -= float64(count)
	c.MvccPut -= float64(count)
	r.perChange = c.minus(r.idle).times(1 / float64(count))
	r.rawCPU = c.CPU / float64(count)
	r.daemonCPU = (cpuSeconds(f.pids()) - cpu0) / float64(count)
	if proxyPID != 0 {
		r.proxyCPU = (cpuSeconds([]int{proxyPID}) - pcpu0) / float64(count)
	}
	if f.status {
		// A status write is one transaction of two keys (the status and
		// the group's brief).
		r.statusPerHost = r.perChange.Txn / float64(len(f.members))
		r.statusKeysPerHost = r.perChange.MvccPut / float64(len(f.members))
	}
	others1, _ := f.targets.counts()
	for i := range others1 {
		r.otherRewrites += others1[i] - others0[i]
	}
}

// burst sends ten changes within a second, one every 100 ms to ten of
// the service's keys, each put on its own (a slow put does not delay the
// next), and counts the status writes per host until the fleet settles.
func (b *fleetBench) burst(f *fleetRun, r *fleetResult) {
	a := b.etcdMetrics()
	markers := make([]string, 10)
	for i := range markers {
		markers[i] = b.marker(fmt.Sprintf("%s-burst-%d", f.group, i))
	}
	done := f.targets.expect(markers...)
	returned := make([]time.Time, len(markers))
	var puts sync.WaitGroup
	began := time.Now()
	for i, m := range markers {
		time.Sleep(time.Until(began.Add(time.Duration(i) * 100 * time.Millisecond)))
		puts.Go(func() { _, returned[i] = put(b.t, b.cli, fmt.Sprintf("%s/b%02d", svcPrefix, i), backendValue(i, m)) })
	}
	puts.Wait()
	last := slices.MaxFunc(returned, time.Time.Compare)
	r.burstSpan = last.Sub(began)
	f.targets.restart(last)
	seen, missing := f.targets.wait(done, 60*time.Second)
	if len(missing) > 0 {
		b.t.Errorf("%s: %d daemons without the burst's changes after 60 s", r.name, len(missing))
		r.missed += len(missing)
	}
	r.burstConv = slices.Max(seen)
	time.Sleep(2 * fleetGap) // status writes settle
	z := b.etcdMetrics()
	if f.status {
		c := costBetween(a, z, 0)
		r.burstWrites = c.Txn / float64(len(f.members))
		r.burstKeys = (c.MvccPut - float64(len(markers))) / float64(len(f.members))
	}
}

// fleetWait runs `reconfig fleet wait` for the fleet's group and returns
// how long it took.
func (b *fleetBench) fleetWait(f *fleetRun, rev int64, timeout time.Duration) (time.Duration, error) {
	args := []string{"--endpoints", b.etcd.client, "fleet", "wait", "--group", f.waitGroup,
		"--min-hosts", strconv.Itoa(f.waitHosts), "--timeout", timeout.String()}
	if rev > 0 {
		args = append(args, "--revision", strconv.FormatInt(rev, 10))
	}
	cmd := exec.Command(b.bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return time.Since(began), fmt.Errorf("%v: %s", err, out)
	}
	return time.Since(began), nil
}

// direct: the reconfig fleet on etcd itself, then the reconnect storm.
func (b *fleetBench) direct() *fleetResult {
	r := &fleetResult{name: "reconfig", n: b.n}
	if b.status {
		r.name = "reconfig --fleet"
	}
	f := b.newFleet(reconfigFleet, b.bin, b.etcd.client, "direct", b.status)
	b.up(f, r)
	b.idle(f, r, 10*time.Second)
	b.measure(f, r, b.changes, false, 0)
	if b.waits {
		wr := &fleetResult{name: r.name + " + fleet wait", idle: r.idle}
		b.measure(f, wr, b.changes, true, 0)
		r.wait = wr.wait
	}
	b.burst(f, r)
	r.storm = b.storm(f)
	f.stop()
	return r
}

// proxied: the reconfig fleet through `etcd grpc-proxy start`.
func (b *fleetBench) proxied() *fleetResult {
	r := &fleetResult{name: "reconfig via grpc-proxy", n: b.n}
	addr := etcdtest.FreeAddr()
	cmd := exec.Command(b.etcd.bin, "grpc-proxy", "start", "--endpoints", strings.TrimPrefix(b.etcd.client, "http://"),
		"--listen-addr", addr)
	logf, err := os.Create(filepath.Join(b.root, "grpc-proxy.log"))
	if err != nil {
		b.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("grpc-proxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	b.t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	endpoint := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		// No event says the proxy listens: ask it.
		if resp, err := http.Get(endpoint + "/metrics"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("grpc-proxy not up after 30 s:\n%s", tail(logf.Name(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := b.newFleet(reconfigFleet, b.bin, endpoint, "proxy", b.status)
	b.up(f, r)
	b.idle(f, r, 10*time.Second)
	b.measure(f, r, max(b.changes/2, 5), false, cmd.Process.Pid)
	f.stop()
	cmd.Process.Signal(os.Interrupt)
	<-exited
	return r
}

// confd: the peer, N confd processes on the same changes.
func (b *fleetBench) confd() *fleetResult {
	bin := os.Getenv(confdEnv)
	if bin == "" {
		b.printf("confd: not run: %s is not set (make bench-fleet builds it with bench/fleet/build-confd.sh)\n", confdEnv)
		return nil
	}
	r := &fleetResult{name: "confd -watch", n: b.n}
	f := b.newFleet(confdFleet, bin, b.etcd.client, "confd", false)
	b.up(f, r)
	b.idle(f, r, 10*time.Second)
	b.measure(f, r, b.changes, false, 0)
	b.burst(f, r)
	f.stop()
	return r
}

// canary: one canary and its followers (`--follow canary --bake 0`), from
// a put to the last follower's target holding it, beside a plain fleet of
// as many daemons on the same changes.
func (b *fleetBench) canary() []*fleetResult {
	n := b.followers + 1
	changes := max(b.changes/2, 5)
	plain := &fleetResult{name: fmt.Sprintf("%d plain --fleet", n), n: n}
	f := newFleet(b.t, reconfigFleet, b.bin, b.etcd.client, filepath.Join(b.root, "plain"), "plain", n, true)
	b.up(f, plain)
	b.idle(f, plain, 10*time.Second)
	b.measure(f, plain, changes, true, 0)
	f.stop()

	gated := &fleetResult{name: fmt.Sprintf("1 canary + %d followers", b.followers), n: n}
	f = newFleet(b.t, reconfigFleet, b.bin, b.etcd.client, filepath.Join(b.root, "canary"), "followers", n, true)
	f.members[0].group, f.members[0].name = "canary", "canary-0000"
	for _, m := range f.members[1:] {
		m.extra = []string{"--follow", "canary", "--bake", "0s"}
	}
	f.waitHosts = b.followers
	b.up(f, gated)
	b.idle(f, gated, 10*time.Second)
	b.measure(f, gated, changes, true, 0)
	f.stop()
	return []*fleetResult{plain, gated}
}

// stormResult is an etcd restart under the fleet.
type stormResult struct {
	etcdBack   time.Duration // kill → etcd healthy again
	converged  time.Duration // the put after the restart → the last target
	healthy    time.Duration // kill → every daemon's /healthz ok
	fleetWait  time.Duration // `fleet wait --revision` after the put
	allBack    time.Duration // kill → every daemon connected, healthy, at the new revision
	peakCPU    float64       // etcd's CPU, cores, highest over 100 ms
	streams    [][2]float64  // (seconds since kill, watch streams) while they came back
	streamsWas float64
	// Targets rewritten that did not change (other.conf: identity or
	// mtime changed; app.conf: more than the one rename).
	otherRewritten, appExtra int
	missed                   int // daemons without the change after 60 s
}

// storm kills etcd and starts it again on its data dir and ports, puts a
// change once it answers, and times the fleet's return.
func (b *fleetBench) storm(f *fleetRun) *stormResult {
	s := &stormResult{}
	otherBefore := statTargets(f, otherTarget)
	_, renames0 := f.targets.counts()
	s.streamsWas = b.etcdMetrics().sum("etcd_debugging_mvcc_watch_stream_total")

	stop := make(chan struct{})
	sampled := make(chan struct{})
	var killed time.Time
	killedAt := make(chan time.Time, 1)
	go func() {
		defer close(sampled)
		at := <-killedAt
		var lastCPU float64
		var lastT time.Time
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			m, err := scrape(b.etcd.client + "/metrics")
			now := time.Now()
			if err != nil {
				lastT = time.Time{}
				continue
			}
			cpu := m.sum("process_cpu_seconds_total")
			if !lastT.IsZero() && cpu >= lastCPU {
				s.peakCPU = max(s.peakCPU, (cpu-lastCPU)/now.Sub(lastT).Seconds())
			}
			lastCPU, lastT = cpu, now
			s.streams = append(s.streams, [2]float64{now.Sub(at).Seconds(), m.sum("etcd_debugging_mvcc_watch_stream_total")})
		}
	}()

	var back time.Time
	killed, back = b.etcd.restart()
	killedAt <- killed
	s.etcdBack = back.Sub(killed)
	marker := b.marker("storm")
	done := f.targets.expect(marker)
	rev, returned := put(b.t, b.cli, changedKey, backendValue(0, marker))
	f.targets.restart(returned)
	seen, missing := f.targets.wait(done, 60*time.Second)
	if len(missing) > 0 {
		b.t.Errorf("storm: %d daemons without the change after 60 s (first: %d):\n%s", len(missing), missing[0],
			tail(filepath.Join(f.members[missing[0]].dir, "log"), 3000))
		s.missed = len(missing)
	}
	s.converged = slices.Max(seen)
	last := returned.Add(s.converged)

	// No event says a daemon is healthy again: ask each, until all are.
	pending := slices.Clone(f.members)
	deadline := time.Now().Add(60 * time.Second)
	c := http.Client{Timeout: 2 * time.Second}
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []*member
		for _, m := range pending {
			resp, err := c.Get("http://" + m.metricsAddr + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				still = append(still, m)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(pending) > 0 {
		b.t.Errorf("storm: %d daemons not healthy 60 s after the restart (first: %d)", len(pending), pending[0].i)
	}
	s.healthy = time.Since(killed)
	if last.Before(time.Now()) {
		last = time.Now()
	}
	if b.waits {
		d, err := b.fleetWait(f, rev, 60*time.Second)
		if err != nil {
			b.t.Errorf("storm: fleet wait --revision %d: %v", rev, err)
		}
		s.fleetWait = d
		last = time.Now()
	}
	s.allBack = last.Sub(killed)
	time.Sleep(fleetGap)
	close(stop)
	<-sampled

	otherAfter := statTargets(f, otherTarget)
	for i := range otherBefore {
		if otherBefore[i] != otherAfter[i] {
			s.otherRewritten++
		}
	}
	_, renames1 := f.targets.counts()
	for i := range renames1 {
		s.appExtra += max(renames1[i]-renames0[i]-1, 0)
	}
	return s
}

// summary prints the run's tables (BENCHMARKS.md "Fleet at scale").
func (b *fleetBench) summary(rs []*fleetResult) {
	if len(rs) == 0 {
		return
	}
	b.printf("\n| N=%d, %d changes | %s |\n|---|", b.n, b.changes, strings.Join(names(rs), " | "))
	for range rs {
		b.printf("---|")
	}
	b.printf("\n")
	row := func(label string, f func(r *fleetResult) string) {
		cells := make([]string, len(rs))
		for i, r := range rs {
			cells[i] = f(r)
		}
		b.printf("| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	dist := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "—"
		}
		s := slices.Sorted(slices.Values(ds))
		return fmt.Sprintf("%s / %s / %s", ms(quantile(s, 0.5)), ms(quantile(s, 0.99)), ms(s[len(s)-1]))
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	row("start, batches of 10", func(r *fleetResult) string { return r.startup.Round(100 * time.Millisecond).String() })
	row("daemons", func(r *fleetResult) string { return strconv.Itoa(r.n) })
	row("fleet convergence p50 / p99 / max", func(r *fleetResult) string { return dist(r.conv) })
	row("member 0 (the canary) p50 / p99 / max", func(r *fleetResult) string { return dist(r.first) })
	row("one daemon's latency p50 / p99 / max", func(r *fleetResult) string { return dist(r.member) })
	row("`fleet wait` p50 / p99 / max", func(r *fleetResult) string { return dist(r.wait) })
	row("slowest daemon per change (distinct)", func(r *fleetResult) string {
		return fmt.Sprintf("%d of %d changes", len(distinct(r.slowest)), len(r.slowest))
	})
	row("etcd Range / change", func(r *fleetResult) string { return num(r.perChange.Range) })
	row("etcd Txn / change", func(r *fleetResult) string { return num(r.perChange.Txn) })
	row("etcd Put / change", func(r *fleetResult) string { return num(r.perChange.Put) })
	row("etcd mvcc reads / change", func(r *fleetResult) string { return num(r.perChange.MvccRange) })
	row("etcd mvcc puts / change", func(r *fleetResult) string { return num(r.perChange.MvccPut) })
	row("etcd watch responses / change", func(r *fleetResult) string { return num(r.perChange.WatchSent) })
	row("etcd CPU / change", func(r *fleetResult) string { return fmt.Sprintf("%.1f ms", 1000*r.perChange.CPU) })
	row("etcd CPU / change, idle included", func(r *fleetResult) string { return fmt.Sprintf("%.1f ms", 1000*r.rawCPU) })
	row("daemons' CPU / change (all N)", func(r *fleetResult) string { return fmt.Sprintf("%.0f ms", 1000*r.daemonCPU) })
	row("status writes (keys) / host / change", func(r *fleetResult) string {
		return fmt.Sprintf("%s (%s)", num(r.statusPerHost), num(r.statusKeysPerHost))
	})
	row("burst of 10 in 1 s: puts sent → last returned", func(r *fleetResult) string {
		if r.burstSpan == 0 {
			return "—"
		}
		return ms(r.burstSpan)
	})
	row("burst of 10 in 1 s: status writes (keys) / host", func(r *fleetResult) string {
		return fmt.Sprintf("%s (%s)", num(r.burstWrites), num(r.burstKeys))
	})
	row("burst of 10 in 1 s: last put → all", func(r *fleetResult) string {
		if r.burstConv == 0 {
			return "—"
		}
		return ms(r.burstConv)
	})
	row("idle etcd CPU / s", func(r *fleetResult) string { return fmt.Sprintf("%.1f ms", 1000*r.idle.CPU) })
	row("idle watch requests (progress) / s", func(r *fleetResult) string { return num(r.idle.WatchMsgs) })
	row("idle lease keepalives / s", func(r *fleetResult) string { return num(r.idle.KeepAlives) })
	row("idle Range+Txn+Put / s", func(r *fleetResult) string { return num(r.idle.Range + r.idle.Txn + r.idle.Put) })
	row("etcd watchers / watch streams", func(r *fleetResult) string { return fmt.Sprintf("%.0f / %.0f", r.watchers, r.streams) })
	row("etcd RSS", func(r *fleetResult) string { return fmt.Sprintf("%.0f MiB", r.etcdRSS/(1<<20)) })
	row("daemon RSS (mean)", func(r *fleetResult) string { return fmt.Sprintf("%.1f MiB", r.daemonRSS/(1<<20)) })
	row("grpc-proxy CPU / change", func(r *fleetResult) string {
		if r.proxyCPU == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f ms", 1000*r.proxyCPU)
	})
	row("daemons not converged within 60 s (all changes)", func(r *fleetResult) string { return strconv.Itoa(r.missed) })
	row("untouched targets rewritten", func(r *fleetResult) string { return strconv.Itoa(r.otherRewrites) })

	b.printf("\nThe slowest put of the run took %s (etcd shares the cores and the disk with the fleet).\n", ms(slowestPut))
	for _, r := range rs {
		s := r.storm
		if s == nil {
			continue
		}
		b.printf("\nReconnect storm (%s, N=%d): etcd killed -9 and restarted on its data dir and ports.\n\n", r.name, r.n)
		b.printf("| | |\n|---|---|\n")
		b.printf("| etcd back (kill → healthy) | %s |\n", ms(s.etcdBack))
		b.printf("| every daemon healthy (kill → last /healthz 200) | %s |\n", ms(s.healthy))
		b.printf("| the put after the restart → last target | %s |\n", ms(s.converged))
		if s.fleetWait > 0 {
			b.printf("| `fleet wait --revision` after the put | %s |\n", ms(s.fleetWait))
		}
		b.printf("| every daemon connected, healthy, at the new revision (from the kill) | %s |\n", ms(s.allBack))
		b.printf("| daemons without the change after 60 s | %d |\n", s.missed)
		b.printf("| etcd peak CPU (100 ms windows) | %.2f cores |\n", s.peakCPU)
		b.printf("| untouched targets rewritten / extra rewrites of the changed one | %d / %d |\n", s.otherRewritten, s.appExtra)
		b.printf("| watch streams back (of %.0f), seconds after the kill | %s |\n", s.streamsWas, streamCurve(s))
	}
}

func names(rs []*fleetResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.name
	}
	return out
}

func distinct(xs []int) []int { return slices.Compact(slices.Sorted(slices.Values(xs))) }

// streamCurve says when 10%, 50%, 90% and all of the watch streams were
// back at etcd.
func streamCurve(s *stormResult) string {
	var parts []string
	for _, q := range []float64{0.1, 0.5, 0.9, 1} {
		at := "—"
		for _, p := range s.streams {
			if p[1] >= q*s.streamsWas {
				at = fmt.Sprintf("%.2f s", p[0])
				break
			}
		}
		parts = append(parts, fmt.Sprintf("%.0f%%: %s", 100*q, at))
	}
	return strings.Join(parts, ", ")
}

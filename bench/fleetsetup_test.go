//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// The fleet benchmark's data: a shared service prefix every host renders
// (backends b00..b19; the changes rewrite b00) and one key per host that
// never changes (its second target must never be rewritten).
const (
	svcPrefix   = "/fleet/svc"
	hostPrefix  = "/fleet/host"
	svcBackends = 20
	changedKey  = svcPrefix + "/b00"
)

func backendValue(i int, marker string) string {
	return fmt.Sprintf("10.0.0.%d:8080 weight=%d %s", i, i+1, marker)
}

func hostKey(i int) string { return fmt.Sprintf("%s/h%04d", hostPrefix, i) }

// etcdProc is the one etcd of the benchmark, a process of Debian's etcd
// binary on loopback ports, restartable on its data dir and ports.
type etcdProc struct {
	t                testing.TB
	bin, client, dir string
	peer             string
	kill             func()
}

func startEtcd(t testing.TB) *etcdProc {
	e := &etcdProc{t: t, bin: etcdtest.Binary(t), client: "http://" + etcdtest.FreeAddr(),
		peer: "http://" + etcdtest.FreeAddr(), dir: filepath.Join(t.TempDir(), "etcd")}
	e.start()
	return e
}

func (e *etcdProc) start() {
	e.kill = etcdtest.StartBinaryAt(e.t, e.bin, e.client, e.peer, e.dir, "--quota-backend-bytes", strconv.Itoa(2<<30))
}

// restart kills etcd (-9) and starts it again on the same data dir and
// ports; it returns once etcd answers its health endpoint.
func (e *etcdProc) restart() (killed, healthy time.Time) {
	e.kill()
	killed = time.Now()
	e.start()
	return killed, time.Now()
}

// metrics are one scrape of a Prometheus text endpoint: every sample by
// its name and labels as written.
type metrics map[string]float64

func scrape(url string) (metrics, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds the samples of name whose labels contain every one of labels
// (each written as key="value").
func (m metrics) sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		base, rest, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// etcdCost is what etcd did in a window, from two scrapes of its metrics.
type etcdCost struct {
	Range, Txn, Put, LeaseGrant float64 // unary requests handled
	WatchMsgs                   float64 // watch stream requests received (creates, progress requests)
	WatchSent                   float64 // watch responses sent
	KeepAlives                  float64 // lease keepalive requests received
	MvccPut, MvccRange          float64 // puts and range reads in etcd's store
	CPU                         float64 // seconds
	Window                      time.Duration
}

func costBetween(a, b metrics, window time.Duration) etcdCost {
	d := func(name string, labels ...string) float64 { return b.sum(name, labels...) - a.sum(name, labels...) }
	return etcdCost{
		Range:      d("grpc_server_handled_total", `grpc_method="Range"`),
		Txn:        d("grpc_server_handled_total", `grpc_method="Txn"`),
		Put:        d("grpc_server_handled_total", `grpc_method="Put"`),
		LeaseGrant: d("grpc_server_handled_total", `grpc_method="LeaseGrant"`),
		WatchMsgs:  d("grpc_server_msg_received_total", `grpc_method="Watch"`),
		WatchSent:  d("grpc_server_msg_sent_total", `grpc_method="Watch"`),
		KeepAlives: d("grpc_server_msg_received_total", `grpc_method="LeaseKeepAlive"`),
		MvccPut:    d("etcd_mvcc_put_total"),
		MvccRange:  d("etcd_mvcc_range_total"),
		CPU:        d("process_cpu_seconds_total"),
		Window:     window,
	}
}

// minus subtracts idle, a cost per second, over the same window.
func (c etcdCost) minus(idle etcdCost) etcdCost {
	w := c.Window
	c = c.times(1).add(idle.times(-w.Seconds()))
	c.Window = w
	return c
}

// times multiplies every figure by f.
func (c etcdCost) times(f float64) etcdCost {
	return etcdCost{
		Range: c.Range * f, Txn: c.Txn * f, Put: c.Put * f, LeaseGrant: c.LeaseGrant * f,
		WatchMsgs: c.WatchMsgs * f, WatchSent: c.WatchSent * f, KeepAlives: c.KeepAlives * f,
		MvccPut: c.MvccPut * f, MvccRange: c.MvccRange * f, CPU: c.CPU * f, Window: c.Window,
	}
}

func (c etcdCost) add(d etcdCost) etcdCost {
	return etcdCost{
		Range: c.Range + d.Range, Txn: c.Txn + d.Txn, Put: c.Put + d.Put, LeaseGrant: c.LeaseGrant + d.LeaseGrant,
		WatchMsgs: c.WatchMsgs + d.WatchMsgs, WatchSent: c.WatchSent + d.WatchSent, KeepAlives: c.KeepAlives + d.KeepAlives,
		MvccPut: c.MvccPut + d.MvccPut, MvccRange: c.MvccRange + d.MvccRange, CPU: c.CPU + d.CPU, Window: c.Window,
	}
}

// targets follows every member's targets with one inotify instance: when
// each app.conf first holds the awaited marker, and every write of the
// other.conf targets, which no change touches.
type targets struct {
	f    *os.File
	wds  map[int32]int // watch descriptor → member
	apps []string      // each member's app.conf

	mu      sync.Mutex
	markers [][]byte // every one of them, in each app.conf
	gen     int      // of the markers
	start   time.Time
	seen    []time.Duration // since start; 0: not yet
	left    int
	done    chan struct{}
	others  []int // writes of each member's other.conf
	renames []int // renames onto each member's app.conf
}

const (
	appTarget   = "app.conf"
	otherTarget = "other.conf"
)

func newTargets(t testing.TB, dirs []string) *targets {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	tr := &targets{f: os.NewFile(uintptr(fd), "inotify"), wds: map[int32]int{}, done: make(chan struct{}),
		seen: make([]time.Duration, len(dirs)), others: make([]int, len(dirs)), renames: make([]int, len(dirs))}
	for i, dir := range dirs {
		wd, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MOVED_TO|syscall.IN_CLOSE_WRITE|syscall.IN_ATTRIB)
		if err != nil {
			tr.f.Close()
			t.Fatalf("inotify %s: %v (fs.inotify.max_user_watches?)", dir, err)
		}
		tr.wds[int32(wd)] = i
		tr.apps = append(tr.apps, filepath.Join(dir, appTarget))
	}
	stopped := make(chan struct{})
	go tr.read(stopped)
	t.Cleanup(func() { tr.f.Close(); <-stopped })
	return tr
}

func (tr *targets) read(stopped chan struct{}) {
	defer close(stopped)
	buf := make([]byte, 256<<10)
	for {
		n, err := tr.f.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			l := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := string(bytes.TrimRight(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+l], "\x00"))
			off += syscall.SizeofInotifyEvent + l
			i, ok := tr.wds[wd]
			if !ok {
				continue
			}
			switch name {
			case otherTarget:
				tr.mu.Lock()
				tr.others[i]++
				tr.mu.Unlock()
			case appTarget:
				if mask&syscall.IN_MOVED_TO != 0 {
					tr.mu.Lock()
					tr.renames[i]++
					tr.mu.Unlock()
				}
				if mask&(syscall.IN_MOVED_TO|syscall.IN_CLOSE_WRITE) != 0 {
					tr.check(i, now)
				}
			}
		}
	}
}

// check looks whether member i's app.conf holds the awaited marker.
func (tr *targets) check(i int, now time.Time) {
	tr.mu.Lock()
	markers, gen, waiting := tr.markers, tr.gen, tr.seen[i] == 0 && tr.markers != nil
	tr.mu.Unlock()
	if !waiting {
		return
	}
	data, err := os.ReadFile(tr.apps[i])
	if err != nil {
		return
	}
	for _, m := range markers {
		if !bytes.Contains(data, m) {
			return
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.seen[i] == 0 && gen == tr.gen {
		tr.seen[i] = max(now.Sub(tr.start), 1)
		tr.left--
		if tr.left == 0 {
			close(tr.done)
		}
	}
}

// expect starts waiting for every app.conf to hold all the markers; the
// clock starts now (set it again with restart).
func (tr *targets) expect(markers ...string) <-chan struct{} {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.markers, tr.start = nil, time.Now()
	for _, m := range markers {
		tr.markers = append(tr.markers, []byte(m))
	}
	tr.gen++
	clear(tr.seen)
	tr.left = len(tr.seen)
	tr.done = make(chan struct{})
	return tr.done
}

// restart sets the clock's start (the put's return).
func (tr *targets) restart(at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	// Members seen before at are counted from at: a change cannot be
	// seen before its put returned, except by the clock's resolution.
	shift := at.Sub(tr.start)
	for i, s := range tr.seen {
		if s != 0 {
			tr.seen[i] = max(s-shift, 1)
		}
	}
	tr.start = at
}

// wait waits for every member to hold the marker; it returns how long
// each took (0: not within timeout) and the missing ones.
func (tr *targets) wait(done <-chan struct{}, timeout time.Duration) ([]time.Duration, []int) {
	select {
	case <-done:
	case <-time.After(timeout):
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var missing []int
	for i, s := range tr.seen {
		if s == 0 {
			missing = append(missing, i)
		}
	}
	return slices.Clone(tr.seen), missing
}

func (tr *targets) counts() (others, renames []int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.others), slices.Clone(tr.renames)
}

// kind is the daemon a fleet runs.
type kind int

const (
	reconfigFleet kind = iota
	confdFleet
)

func (k kind) String() string { return [...]string{"reconfig", "confd"}[k] }

// member is one daemon of a fleet: its configuration, targets and state
// in a directory of its own.
type member struct {
	i           int
	name        string
	group       string
	extra       []string // more arguments of `reconfig watch`
	dir, out    string
	metricsAddr string
	cmd         *exec.Cmd
	exited      chan struct{}
}

// fleetRun is one fleet of daemons of one kind against one endpoint.
type fleetRun struct {
	t        testing.TB
	kind     kind
	bin      string
	endpoint string
	group    string
	status   bool // reconfig watch --fleet
	members  []*member
	targets  *targets
	// waitGroup and waitHosts are what `fleet wait` waits for: the group
	// and all its members, unless a phase says otherwise.
	waitGroup string
	waitHosts int
}

const reconfigTemplate = "# {{.ID}}\n{{range $k, $v := .Data}}server {{base $k}} {{$v}}\n{{end}}"

// confd's template renders the same bytes from the same keys.
const confdTemplate = "# app\n{{range gets \"" + svcPrefix + "/*\"}}server {{base .Key}} {{.Value}}\n{{end}}"

const reconfigOther = "host {{range .Data}}{{.}}{{end}}\n"
const confdOther = "host {{getv \"%s\"}}\n"

// newFleet writes the configuration of n members under root, and follows
// their targets; start runs them.
func newFleet(t testing.TB, k kind, bin, endpoint, root, group string, n int, status bool) *fleetRun {
	t.Helper()
	f := &fleetRun{t: t, kind: k, bin: bin, endpoint: endpoint, group: group, status: status, waitGroup: group, waitHosts: n}
	_, metricsPort, _ := strings.Cut(etcdtest.FreeAddr(), ":")
	var outs []string
	for i := range n {
		m := &member{i: i, name: fmt.Sprintf("%s-%04d", group, i), group: group, dir: filepath.Join(root, fmt.Sprintf("m%04d", i))}
		m.out = filepath.Join(m.dir, "out")
		for _, d := range []string{"conf.d", "templates", "out"} {
			if err := os.MkdirAll(filepath.Join(m.dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		files := map[string]string{}
		switch k {
		case reconfigFleet:
			// The check reads the staged file, before it is installed,
			// as confd's check_cmd does.
			files["templates/app.tmpl"] = reconfigTemplate
			files["templates/other.tmpl"] = reconfigOther
			files["conf.d/app.json"] = fmt.Sprintf(`{"id": "app", "key": %q, "recursive": true, "source": "app.tmpl", "target": %q, "checkcmd": "true {{.src}}", "reloadcmd": "true"}`,
				svcPrefix, filepath.Join(m.out, appTarget))
			files["conf.d/other.json"] = fmt.Sprintf(`{"id": "other", "key": %q, "source": "other.tmpl", "target": %q, "checkcmd": "true {{.src}}", "reloadcmd": "true"}`,
				hostKey(i), filepath.Join(m.out, otherTarget))
			// One port on an address of its own per member (all of
			// 127.0.0.0/8 is loopback): a port picked free for each
			// could be taken by the time the daemon binds it, by the
			// fleet's own outgoing connections.
			m.metricsAddr = fmt.Sprintf("127.1.%d.%d:%s", i/250, i%250+1, metricsPort)
		case confdFleet:
			files["templates/app.tmpl"] = confdTemplate
			files["templates/other.tmpl"] = fmt.Sprintf(confdOther, hostKey(i))
			files["conf.d/app.toml"] = fmt.Sprintf("[template]\nsrc = \"app.tmpl\"\ndest = %q\nkeys = [%q]\ncheck_cmd = \"true\"\nreload_cmd = \"true\"\n",
				filepath.Join(m.out, appTarget), svcPrefix)
			files["conf.d/other.toml"] = fmt.Sprintf("[template]\nsrc = \"other.tmpl\"\ndest = %q\nkeys = [%q]\ncheck_cmd = \"true\"\nreload_cmd = \"true\"\n",
				filepath.Join(m.out, otherTarget), hostKey(i))
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(m.dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f.members = append(f.members, m)
		outs = append(outs, m.out)
	}
	f.targets = newTargets(t, outs)
	t.Cleanup(f.stop)
	return f
}

func (f *fleetRun) command(m *member) *exec.Cmd {
	var cmd *exec.Cmd
	switch f.kind {
	case reconfigFleet:
		args := []string{"--cfgdir", m.dir, "--endpoints", f.endpoint, "watch", "--metrics-addr", m.metricsAddr}
		if f.status {
			args = append(args, "--fleet", "--name", m.name, "--group", m.group)
		}
		args = append(args, m.extra...)
		cmd = exec.Command(f.bin, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
	case confdFleet:
		cmd = exec.Command(f.bin, "-watch", "-backend", "etcdv3", "-node", f.endpoint, "-confdir", m.dir, "-log-level", "info")
	}
	return cmd
}

// start runs the members batch by batch, each batch once the previous
// one has rendered its first targets (a fleet's hosts do not all boot in
// the same second, and 200 processes on two cores must not either). It
// returns how long the whole fleet took to come up.
func (f *fleetRun) start(marker string, batch int) time.Duration {
	f.t.Helper()
	done := f.targets.expect(marker)
	began := time.Now()
	for lo := 0; lo < len(f.members); lo += batch {
		hi := min(lo+batch, len(f.members))
		for _, m := range f.members[lo:hi] {
			f.run(m)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			seen, _ := f.targets.wait(nil, 0)
			up := 0
			for _, s := range seen[lo:hi] {
				if s != 0 {
					up++
				}
			}
			if up == hi-lo {
				break
			}
			for _, m := range f.members[lo:hi] {
				select {
				case <-m.exited:
					f.t.Fatalf("%s %d exited at start:\n%s", f.kind, m.i, tail(filepath.Join(m.dir, "log"), 2000))
				default:
				}
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("%s fleet: members %d..%d not up within 60 s (%d of %d)", f.kind, lo, hi-1, up, hi-lo)
			}
			// The targets' events wake this up; the timeout only looks
			// at exited members now and then.
			select {
			case <-done:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return time.Since(began)
}

func (f *fleetRun) run(m *member) {
	cmd := f.command(m)
	log, err := os.Create(filepath.Join(m.dir, "log"))
	if err != nil {
		f.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("start %s: %v", f.bin, err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(m.exited) }()
}

// stop ends every member with SIGTERM, then SIGKILL after 10 s.
func (f *fleetRun) stop() {
	for _, m := range f.members {
		if m.cmd != nil {
			m.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(10 * time.Second)
	for _, m := range f.members {
		if m.cmd == nil {
			continue
		}
		select {
		case <-m.exited:
		case <-deadline:
			m.cmd.Process.Kill()
			<-m.exited
		}
		m.cmd = nil
	}
}

// pids are the members' process ids.
func (f *fleetRun) pids() []int {
	var out []int
	for _, m := range f.members {
		if m.cmd != nil {
			out = append(out, m.cmd.Process.Pid)
		}
	}
	return out
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// cpuSeconds is the CPU time (user + system) of the processes pids so far.
func cpuSeconds(pids []int) float64 {
	var ticks float64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which ends with the last ')'.
		i := bytes.LastIndexByte(data, ')')
		fields := strings.Fields(string(data[i+1:]))
		if len(fields) > 13 {
			u, _ := strconv.ParseFloat(fields[11], 64)
			s, _ := strconv.ParseFloat(fields[12], 64)
			ticks += u + s
		}
	}
	return ticks / 100 // USER_HZ
}

// rssBytes is the resident memory of the processes pids now.
func rssBytes(pids []int) float64 {
	var total float64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				total += kb * 1024
			}
		}
	}
	return total
}

// slowestPut is the longest a put of the benchmark took: etcd shares the
// machine's two cores and its disk with the fleet.
var slowestPut time.Duration

// put sets key and returns the revision and when the put returned. A put
// that times out while the fleet loads the machine is tried again, for up
// to two minutes.
func put(t testing.TB, cli *etcd.Client, key, value string) (int64, time.Time) {
	t.Helper()
	began := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rev, err := cli.Put(ctx, key, value, 0)
		cancel()
		if err == nil {
			now := time.Now()
			slowestPut = max(slowestPut, now.Sub(began))
			return rev, now
		}
		if time.Since(began) > 2*time.Minute {
			t.Fatalf("put %s: %v", key, err)
		}
	}
}

// fileID is a target's identity and last write, to prove it untouched.
type fileID struct {
	ino   uint64
	mtime syscall.Timespec
}

func statTargets(f *fleetRun, name string) []fileID {
	out := make([]fileID, len(f.members))
	for i, m := range f.members {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(m.out, name), &st) == nil {
			out[i] = fileID{st.Ino, st.Mtim}
		}
	}
	return out
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

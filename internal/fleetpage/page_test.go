package fleetpage_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/internal/fleetpage"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

var keys = fleet.NewKeys("")

func client(t *testing.T, endpoint string) *etcd.Client {
	t.Helper()
	c, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// status is a host's status document as a --fleet daemon writes it.
type status struct {
	name, group string
	at          int64
	failed      string // a failing binding's error ("" for none)
	held        string
	following   *fleet.Following
}

func (s status) encode(t *testing.T) string {
	t.Helper()
	st := &fleet.Status{Name: s.name, Group: s.group, Reconfig: "test", At: s.at, Healthy: true, Held: s.held,
		Reported: time.Now().UTC(), AtTime: time.Now().UTC(), Following: s.following,
		Claim:    fleet.Claim{Instance: "i-" + s.name, Hostname: "box-" + s.name, PID: 4242, Started: time.Now().UTC()},
		Bindings: []fleet.Binding{{ID: "app", Target: "/etc/app.conf", Outcome: fleet.OK, Revision: s.at}}}
	if s.failed != "" {
		st.Bindings = append(st.Bindings, fleet.Binding{ID: "lb", Target: "/etc/haproxy/haproxy.cfg", Outcome: fleet.Failed, Error: s.failed + "\nmore lines", Revision: s.at})
	}
	data, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func put(t *testing.T, c *etcd.Client, key, value string) int64 {
	t.Helper()
	rev, err := c.Put(context.Background(), key, value, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// served is a page following etcd, served by an HTTP test server.
type served struct {
	page *fleetpage.Page
	url  string
}

func serve(t *testing.T, c *etcd.Client, o fleetpage.Options) served {
	t.Helper()
	o.Client, o.Keys = c, keys
	if o.Settle == 0 {
		o.Settle = 50 * time.Millisecond
	}
	if o.Interval == 0 {
		o.Interval = 20 * time.Millisecond
	}
	p := fleetpage.New(o)
	if err := p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return served{page: p, url: srv.URL}
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// eventually polls cond until it holds (every 10 ms), failing after
// timeout: for what an HTTP server shows, which announces nothing.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// comparable drops what differs between two reports of one fleet taken
// at two moments: the time and the report ages.
func comparable(t *testing.T, data []byte) *fleet.Report {
	t.Helper()
	var r fleet.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%v in %s", err, data)
	}
	r.Time = time.Time{}
	for i := range r.Hosts {
		r.Hosts[i].AgeSeconds = 0
	}
	return &r
}

// /api/fleet is the document `fleet status --json` prints for the same
// fleet and barrier, and it follows the fleet as hosts report.
func TestAPIIsFleetStatus(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	put(t, c, keys.Host("web-1"), status{name: "web-1", group: "web", at: 5}.encode(t))
	put(t, c, keys.Host("web-2"), status{name: "web-2", group: "web", at: 5, failed: "check failed: exit status 1"}.encode(t))
	put(t, c, keys.Host("db-1"), status{name: "db-1", group: "db", at: 1}.encode(t))
	put(t, c, keys.Hold(), `{"reason":"INC-1","user":"ops","host":"desk","since":"2025-01-01T00:00:00Z"}`)
	put(t, c, "/app/unrelated", "secret value")
	s := serve(t, c, fleetpage.Options{})

	// fleet status writes a barrier no host here answers: both judge
	// against it once the page has seen it settle.
	var stdout, stderr bytes.Buffer
	code := command.Run(context.Background(), []string{"reconfig", "--endpoints", srv.ClientURL, "fleet", "status", "--json", "--settle", "0"},
		command.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	if code != 0 {
		t.Fatalf("fleet status: exit %d\n%s", code, stderr.String())
	}
	want := comparable(t, stdout.Bytes())
	var body []byte
	eventually(t, 10*time.Second, "the page to judge against fleet status's barrier", func() bool {
		var code int
		code, body = get(t, s.url+"/api/fleet")
		return code == http.StatusOK && comparable(t, body).Revision == want.Revision
	})
	got := comparable(t, body)
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("/api/fleet differs from fleet status --json:\n got %s\nwant %s", g, w)
	}
	if got.Summary != (fleet.Summary{Hosts: 3, Behind: 2, Failed: 1}) || got.Hosts[0].Name != "web-2" || got.Hold == nil || got.Hold.Reason != "INC-1" {
		t.Errorf("report: %+v, hosts %+v", got.Summary, got.Hosts)
	}
	if strings.Contains(string(body), "secret value") || strings.Contains(string(body), "more lines") {
		t.Errorf("/api/fleet shows a key's value or more than an error's first line: %s", body)
	}

	// web-1 answers the barrier; db-1 leaves.
	put(t, c, keys.Host("web-1"), status{name: "web-1", group: "web", at: want.Revision}.encode(t))
	if _, err := c.Delete(context.Background(), keys.Host("db-1"), false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the page to follow the reports", func() bool {
		_, body = get(t, s.url+"/api/fleet")
		r := comparable(t, body)
		return r.Summary == fleet.Summary{Hosts: 2, OK: 1, Failed: 1}
	})

	// --group: only the group's hosts.
	sg := serve(t, c, fleetpage.Options{Group: "web"})
	_, body = get(t, sg.url+"/api/fleet")
	if r := comparable(t, body); r.Group != "web" || r.Summary.Hosts != 2 {
		t.Errorf("/api/fleet with --group web: %s", body)
	}
}

// With no barrier ever written the hosts are judged against the revision
// the page read the fleet at, and the report says why.
func TestAPIWithoutBarrier(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	rev := put(t, c, keys.Host("a"), status{name: "a", group: "g", at: 1}.encode(t))
	s := serve(t, c, fleetpage.Options{})
	code, body := get(t, s.url+"/api/fleet")
	r := comparable(t, body)
	if code != http.StatusOK || r.Barrier || r.Revision != rev || !strings.Contains(r.BarrierError, "the page writes none") || r.Summary.Behind != 1 {
		t.Errorf("without a barrier: %d %s", code, body)
	}
	// The page wrote nothing.
	if entries, _, err := c.List(context.Background(), keys.All()); err != nil || len(entries) != 1 {
		t.Errorf("keys under the fleet prefix: %v %v, want only a's status", entries, err)
	}
}

// events reads server-sent events from the page.
type events struct {
	t    *testing.T
	body io.Closer
	r    *bufio.Reader
	ch   chan fleetpage.Frame
}

func subscribe(t *testing.T, url string) *events {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/events: %s %v", resp.Status, resp.Header)
	}
	e := &events{t: t, body: resp.Body, r: bufio.NewReaderSize(resp.Body, 1<<20), ch: make(chan fleetpage.Frame, 64)}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	go func() {
		defer close(e.ch)
		for {
			line, err := e.r.ReadString('\n')
			if err != nil {
				return
			}
			data, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "data: ")
			if !ok {
				continue
			}
			var f fleetpage.Frame
			if err := json.Unmarshal([]byte(data), &f); err != nil {
				t.Errorf("frame %q: %v", data, err)
				return
			}
			e.ch <- f
		}
	}()
	return e
}

// next returns the next frame that ok accepts.
func (e *events) next(what string, ok func(fleetpage.Frame, []fleetpage.Row) bool) (fleetpage.Frame, []fleetpage.Row) {
	e.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case f, open := <-e.ch:
			if !open {
				e.t.Fatalf("the event stream ended waiting for %s", what)
			}
			var rows []fleetpage.Row
			if len(f.Hosts) > 0 {
				if err := json.Unmarshal(f.Hosts, &rows); err != nil {
					e.t.Fatal(err)
				}
			}
			if ok(f, rows) {
				return f, rows
			}
		case <-timeout:
			e.t.Fatalf("timed out waiting for a frame with %s", what)
		}
	}
}

func names(rows []fleetpage.Row) string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

// The event stream starts with a full frame, then carries only the hosts
// that changed and the names of those that left; the hold, the canary
// gate and the page's health ride on every frame.
func TestEvents(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	put(t, c, keys.Barrier(), `{"by":"ops@desk: fleet status","since":"2025-01-01T00:00:00Z","nonce":"1"}`)
	rev := put(t, c, keys.Host("canary1"), status{name: "canary1", group: "canary", at: 10, failed: "check failed: exit status 1"}.encode(t))
	put(t, c, keys.Host("f1"), status{name: "f1", group: "web", at: rev,
		following: &fleet.Following{Group: "canary", Gate: rev - 1, Waiting: rev, Reason: "canary canary1 failed"}}.encode(t))
	put(t, c, keys.Host("f2"), status{name: "f2", group: "web", at: rev}.encode(t))
	s := serve(t, c, fleetpage.Options{})
	ev := subscribe(t, s.url)

	f, rows := ev.next("the full frame", func(f fleetpage.Frame, _ []fleetpage.Row) bool { return f.Full })
	if names(rows) != "canary1,f1,f2" || rows[0].State != fleet.StateFailed || len(rows[0].Failing) != 1 ||
		rows[0].Failing[0].Error != "check failed: exit status 1 …" || !f.Health.OK || f.Hold != nil {
		t.Fatalf("full frame: %+v\nrows %+v", f, rows)
	}
	if len(f.Gates) != 1 || f.Gates[0].Group != "canary" || f.Gates[0].Followers != 1 || f.Gates[0].Waiting != rev || f.Gates[0].Reason != "canary canary1 failed" {
		t.Errorf("gates: %+v", f.Gates)
	}
	if rows[1].Following != fmt.Sprintf("following canary: at %d (canary canary1 failed)", rev) {
		t.Errorf("f1 following: %q", rows[1].Following)
	}
	if f.BarrierBy != "ops@desk: fleet status" || !f.Barrier {
		t.Errorf("barrier: %v %q", f.Barrier, f.BarrierBy)
	}

	// The canary is fixed: one row changes.
	put(t, c, keys.Host("canary1"), status{name: "canary1", group: "canary", at: rev + 5}.encode(t))
	_, rows = ev.next("the fixed canary", func(f fleetpage.Frame, rows []fleetpage.Row) bool { return len(rows) > 0 })
	if names(rows) != "canary1" || rows[0].State != fleet.StateOK {
		t.Errorf("frame after the canary was fixed carries %+v, want only canary1, ok", rows)
	}

	// A hold: the header changes, and every host that obeys it.
	put(t, c, keys.Hold(), `{"reason":"INC-2","user":"ops","host":"desk","since":"2025-01-01T00:00:00Z"}`)
	f, _ = ev.next("the hold", func(f fleetpage.Frame, _ []fleetpage.Row) bool { return f.Hold != nil })
	if f.Hold.Reason != "INC-2" || f.Full {
		t.Errorf("frame with the hold: %+v", f)
	}
	put(t, c, keys.Host("f2"), status{name: "f2", group: "web", at: rev, held: "INC-2"}.encode(t))
	f, rows = ev.next("f2 held", func(f fleetpage.Frame, rows []fleetpage.Row) bool { return len(rows) > 0 })
	if names(rows) != "f2" || rows[0].State != fleet.StateHeld || f.Summary.Held != 1 {
		t.Errorf("frame after f2 obeyed the hold: %+v %+v", f.Summary, rows)
	}

	// A host leaves.
	if _, err := c.Delete(context.Background(), keys.Host("f1"), false); err != nil {
		t.Fatal(err)
	}
	f, _ = ev.next("f1 gone", func(f fleetpage.Frame, _ []fleetpage.Row) bool { return len(f.Gone) > 0 })
	if strings.Join(f.Gone, ",") != "f1" || len(f.Gates) != 0 || f.Summary.Hosts != 2 {
		t.Errorf("frame after f1 left: gone %v, gates %v, summary %+v", f.Gone, f.Gates, f.Summary)
	}

	// A second stream starts from a full frame of the fleet as it is now.
	ev2 := subscribe(t, s.url)
	_, rows = ev2.next("the second stream's full frame", func(f fleetpage.Frame, _ []fleetpage.Row) bool { return f.Full })
	if names(rows) != "canary1,f2" {
		t.Errorf("second stream's first frame: %s", names(rows))
	}
}

// /healthz says whether the page's watch of etcd is current: 200 while
// it is, 503 with the reason once etcd is gone, and the event stream says
// so too.
func TestHealth(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	put(t, c, keys.Host("a"), status{name: "a", group: "g", at: 1}.encode(t))
	s := serve(t, c, fleetpage.Options{Grace: 100 * time.Millisecond, Silence: time.Second})
	if code, body := get(t, s.url+"/healthz"); code != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("/healthz with etcd up: %d %q", code, body)
	}
	ev := subscribe(t, s.url)
	ev.next("the full frame", func(f fleetpage.Frame, _ []fleetpage.Row) bool { return f.Full && f.Health.OK })

	srv.Close()
	var body []byte
	eventually(t, 30*time.Second, "/healthz to say etcd is gone", func() bool {
		var code int
		code, body = get(t, s.url+"/healthz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(string(body), "etcd") {
		t.Errorf("/healthz with etcd gone: %q", body)
	}
	f, _ := ev.next("a frame saying etcd is gone", func(f fleetpage.Frame, _ []fleetpage.Row) bool { return !f.Health.OK })
	if f.Health.Problem == "" {
		t.Errorf("frame with etcd gone: %+v", f.Health)
	}
	if code, _ := get(t, s.url+"/api/fleet"); code != http.StatusServiceUnavailable {
		t.Errorf("/api/fleet with etcd gone: %d, want 503", code)
	}
}

// The page serves its embedded assets, with a policy that lets it load
// nothing from elsewhere, and refuses to be written to.
func TestPageAssets(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	s := serve(t, client(t, srv.ClientURL), fleetpage.Options{})
	for path, want := range map[string]string{"/": "<script src=\"app.js\"></script>", "/app.js": "EventSource", "/app.css": ".st-failed"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET %s: %s %v", path, resp.Status, resp.Header)
		}
		if text := strings.ReplaceAll(string(body), `"http://www.w3.org/2000/svg"`, ""); strings.Contains(text, "http://") || strings.Contains(text, "https://") {
			t.Errorf("%s refers to another site", path)
		}
	}
	resp, err := http.Post(s.url+"/api/fleet", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/fleet: %s", resp.Status)
	}
}

// A fleet of 1,000 hosts: the API and the first frame stay small enough
// to serve often (sizes and times are logged; BenchmarkFrame measures).
func TestThousandHosts(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	const n = 1000
	for i := range n {
		st := status{name: fmt.Sprintf("host-%04d", i), group: fmt.Sprintf("g%d", i%10), at: 100}
		if i%97 == 0 {
			st.failed = "check failed: exit status 1"
		}
		put(t, c, keys.Host(st.name), st.encode(t))
	}
	start := time.Now()
	s := serve(t, c, fleetpage.Options{})
	opened := time.Since(start)
	start = time.Now()
	code, body := get(t, s.url+"/api/fleet")
	took := time.Since(start)
	r := comparable(t, body)
	if code != http.StatusOK || r.Summary.Hosts != n || r.Summary.Failed != 11 || r.Hosts[0].State != fleet.StateFailed {
		t.Fatalf("/api/fleet of %d hosts: %d %+v", n, code, r.Summary)
	}
	ev := subscribe(t, s.url)
	_, rows := ev.next("the full frame", func(f fleetpage.Frame, _ []fleetpage.Row) bool { return f.Full })
	if len(rows) != n {
		t.Fatalf("full frame: %d rows", len(rows))
	}
	put(t, c, keys.Host("host-0500"), status{name: "host-0500", group: "g0", at: 100, failed: "boom"}.encode(t))
	start = time.Now()
	_, rows = ev.next("host-0500 failed", func(_ fleetpage.Frame, rows []fleetpage.Row) bool { return len(rows) > 0 })
	if names(rows) != "host-0500" {
		t.Errorf("frame after one host failed carries %d rows", len(rows))
	}
	// Sane: well under a megabyte a host-list, a few hundred bytes a row.
	if len(body) > 2<<20 || len(body)/n > 2048 {
		t.Errorf("/api/fleet of %d hosts is %d bytes", n, len(body))
	}
	t.Logf("%d hosts: read in %s, /api/fleet %d bytes in %s, one change reached the stream in %s", n, opened, len(body), took, time.Since(start))
}

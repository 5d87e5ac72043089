package reliability

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/fleet"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// screenshotTo, when set, is where the browser test saves a screenshot
// of the page (the README's docs/fleet-page.png is made so).
const screenshotTo = "RECONFIG_FLEET_PAGE_SCREENSHOT"

// startFleetServe runs `reconfig fleet serve` on a free loopback port as
// a process and returns the page's URL; the test's end stops it with
// SIGTERM and requires exit 0.
func startFleetServe(t *testing.T, f *fixture, args ...string) string {
	t.Helper()
	cmd := f.command(append([]string{"fleet", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	out := &testfixtures.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fleet serve exited with %v after SIGTERM, want 0:\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("fleet serve did not stop within 30s of SIGTERM:\n%s", out.String())
		}
	})
	url := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+/) `)
	var m []string
	eventually(t, 30*time.Second, "fleet serve to say where it serves", func() bool {
		select {
		case err := <-done:
			t.Fatalf("fleet serve exited: %v\n%s", err, out.String())
		default:
		}
		m = url.FindStringSubmatch(out.String())
		return m != nil
	})
	return m[1]
}

// awaitDOM waits, on the page's own update events, until the JavaScript
// predicate pred holds, and returns the DOM as serialized then.
func (b *browser) awaitDOM(what, pred string) string {
	b.t.Helper()
	var html *string
	b.eval(`new Promise((resolve, reject) => {
		const check = () => {
			try {
				if (`+pred+`) {
					document.removeEventListener("fleet-update", check);
					resolve(document.documentElement.outerHTML);
				}
			} catch (e) { reject(e); }
		};
		document.addEventListener("fleet-update", check);
		check();
		setTimeout(() => resolve(null), 60000);
	})`, &html)
	if html == nil {
		var dom string
		b.eval("document.documentElement.outerHTML", &dom)
		b.t.Fatalf("the page did not show %s within 60s; it shows:\n%s", what, dom)
	}
	return *html
}

// hostRow returns host's row in a DOM dump.
func hostRow(t *testing.T, dom, host string) string {
	t.Helper()
	m := regexp.MustCompile(`<tr data-host="` + regexp.QuoteMeta(host) + `"[^>]*>.*?</tr>`).FindString(dom)
	if m == "" {
		t.Fatalf("no row for host %s in the page:\n%s", host, dom)
	}
	return m
}

// rowState checks that a row says its state in a word, with the matching
// colour class: never colour alone.
func rowState(t *testing.T, dom, host string, want fleet.State) string {
	t.Helper()
	row := hostRow(t, dom, host)
	if !strings.Contains(row, `data-state="`+string(want)+`"`) || !strings.Contains(row, `<span class="st st-`+string(want)+`">`+string(want)+`</span>`) {
		t.Errorf("host %s is not shown %s: %s", host, want, row)
	}
	return row
}

// The page in a real browser, against real daemons: it shows the hosts,
// then — live, the same page never reloaded — a canary that fails its
// check (failed first, with its error, and the followers waiting at the
// gate), then the hold.
func TestFleetPageInBrowser(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	etcdtest.PutEventually(t, c, "/app/backends", "10.0.0.1:8080")

	canary := checkedFixture(t, srv.ClientURL)
	canary.startWatch("--fleet", "--name", "lb-canary", "--group", "canary", "--fleet-ttl", fleetTTL)
	for _, name := range []string{"lb-1", "lb-2"} {
		checkedFixture(t, srv.ClientURL).startWatch("--fleet", "--name", name, "--group", "lb", "--fleet-ttl", fleetTTL, "--follow", "canary")
	}
	db, _ := fleetHost(t, srv.ClientURL, "db-1", "--group", "db")
	for _, name := range []string{"lb-canary", "lb-1", "lb-2", "db-1"} {
		awaitHost(t, c, fleetKeys, name, name+"'s first report", present)
	}
	// A barrier every host answers: all at revision.
	if r := db.run("fleet", "status", "--settle", "10s"); r.code != 0 {
		t.Fatalf("fleet status: %s", r)
	}

	url := startFleetServe(t, db, "--sample-every", "250ms")
	b := startBrowser(t, url, 1200, 820)
	eventually(t, 90*time.Second, "the page to load", func() bool {
		var ready bool
		b.eval(`location.href === `+fmt.Sprintf("%q", url)+` && document.readyState === "complete" && !!document.getElementById("meta")`, &ready)
		return ready
	})
	var loaded float64
	b.eval("performance.timeOrigin", &loaded)

	dom := b.awaitDOM("four hosts, all at revision", `document.querySelectorAll('tr[data-state="ok"]').length === 4`)
	for _, h := range []string{"lb-canary", "lb-1", "lb-2", "db-1"} {
		rowState(t, dom, h, fleet.StateOK)
	}
	for _, want := range []string{`<dd id="n-hosts">4</dd>`, `<dd id="n-ok">4</dd>`, `<dd id="n-failed">0</dd>`, `data-group="canary"`, `data-group="lb"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page does not show %s:\n%s", want, dom)
		}
	}
	var frames0 int
	b.eval(`+document.getElementById("meta").dataset.frames`, &frames0)

	// The canary's check refuses the change: it fails, the followers
	// hold back at the gate, and the page shows both without a reload.
	bad := etcdtest.PutEventually(t, c, "/app/backends", "bad")
	dom = b.awaitDOM("the canary failed and the followers waiting",
		`document.querySelector('tr[data-host="lb-canary"]').dataset.state === "failed" && document.getElementById("gates").textContent.includes("waiting for `+fmt.Sprint(bad)+`")`)
	row := rowState(t, dom, "lb-canary", fleet.StateFailed)
	if !strings.Contains(row, "failed: app (") || !strings.Contains(row, "check failed: exited with status 1") {
		t.Errorf("the failed canary's row does not show its failing binding and error: %s", row)
	}
	if !strings.Contains(dom, `<dd id="n-failed">1</dd>`) {
		t.Errorf("the summary does not count the failed host:\n%s", dom)
	}
	if first := regexp.MustCompile(`<section class="group" data-group="([^"]+)"`).FindStringSubmatch(dom); first == nil || first[1] != "canary" {
		t.Errorf("the group with a failed host is not shown first: %v", first)
	}
	for _, h := range []string{"lb-1", "lb-2"} {
		if r := hostRow(t, dom, h); !strings.Contains(r, "following canary: at ") {
			t.Errorf("follower %s does not say where it stands: %s", h, r)
		}
	}
	if strings.Contains(dom, "10.0.0.1:8080") || strings.Contains(dom, ">bad<") {
		t.Errorf("the page shows a key's value:\n%s", dom)
	}

	// The emergency brake.
	if r := db.run("fleet", "hold", "--reason", "INC-4711: bad backend list"); r.code != 0 {
		t.Fatalf("fleet hold: %s", r)
	}
	dom = b.awaitDOM("the hold", `!document.getElementById("hold").hidden && document.querySelector('tr[data-host="db-1"]').dataset.state === "held"`)
	if !regexp.MustCompile(`<div id="hold" class="banner banner-held">HELD since [^<]* by [^<]*: INC-4711: bad backend list\.`).MatchString(dom) {
		t.Errorf("the page does not show the hold:\n%s", dom)
	}
	if row := rowState(t, dom, "db-1", fleet.StateHeld); !strings.Contains(row, "held: INC-4711: bad backend list") {
		t.Errorf("db-1's row does not say why it is held: %s", row)
	}

	// All of it in the page loaded at the start: no reload, and the
	// updates came over its event stream.
	var now float64
	var frames int
	b.eval("performance.timeOrigin", &now)
	b.eval(`+document.getElementById("meta").dataset.frames`, &frames)
	if now != loaded || frames <= frames0 {
		t.Errorf("the page was reloaded (time origin %v, then %v) or applied no update (%d, then %d)", loaded, now, frames0, frames)
	}

	if path := os.Getenv(screenshotTo); path != "" {
		b.awaitDOM("the history bars", `document.querySelectorAll("#spark rect").length > 0`)
		png := b.screenshot()
		if !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("the screenshot is not a PNG")
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s, %d bytes", path, len(png))
	}
}

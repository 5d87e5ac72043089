package reliability

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures"
)

// requireChromium is set in CI: the browser test must run there.
const requireChromium = "RECONFIG_REQUIRE_CHROMIUM"

// chromiumPath returns Debian's chromium, or skips the test (fails it
// under RECONFIG_REQUIRE_CHROMIUM=1) when it is not installed.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireChromium) == "1" {
		t.Fatalf("chromium is not installed and %s=1: apt-get install chromium", requireChromium)
	}
	t.Skipf("chromium is not installed (apt-get install chromium): the page is not tested in a browser; %s=1 makes this a failure", requireChromium)
	return ""
}

// browser is headless chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: commands on its fd 3, answers on fd 4,
// each message JSON ended by a NUL byte). One page is opened and kept: the
// test reads its DOM as it changes, without ever reloading it.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File
	session string
	log     *testfixtures.SyncBuffer

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpReply
	done    chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startBrowser starts chromium and opens url in a page of width × height.
func startBrowser(t *testing.T, url string, width, height int) *browser {
	t.Helper()
	path := chromiumPath(t)
	toChrome, in, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, in: in, log: &testfixtures.SyncBuffer{}, waiting: map[int]chan cdpReply{}, done: make(chan struct{})}
	b.cmd = exec.Command(path, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--hide-scrollbars", "--mute-audio", "--user-data-dir="+t.TempDir(), fmt.Sprintf("--window-size=%d,%d", width, height))
	b.cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fd 3, fd 4
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	b.cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	fromChrome.Close()
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	go b.read(out)
	t.Cleanup(func() {
		b.call("Browser.close", nil, "")
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
			<-exited
		}
		in.Close()
		if t.Failed() {
			t.Logf("chromium's output:\n%s", b.log.String())
		}
	})

	var target struct {
		TargetID string `json:"targetId"`
	}
	b.must("Target.createTarget", map[string]any{"url": "about:blank"}, "", &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.must("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, "", &attached)
	b.session = attached.SessionID
	b.must("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, b.session, nil)
	b.must("Page.navigate", map[string]any{"url": url}, b.session, nil)
	return b
}

// read hands each answer to its caller; events are dropped.
func (b *browser) read(out *os.File) {
	defer close(b.done)
	r := bufio.NewReaderSize(out, 1<<20)
	for {
		msg, err := r.ReadBytes(0)
		if err != nil {
			return
		}
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.waiting[m.ID]
		delete(b.waiting, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends one command and waits (at most a minute) for its answer.
func (b *browser) call(method string, params any, session string) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-b.done:
		return nil, fmt.Errorf("%s: chromium closed the pipe", method)
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("%s: no answer within a minute", method)
	}
}

func (b *browser) must(method string, params any, session string, result any) {
	b.t.Helper()
	data, err := b.call(method, params, session)
	if err != nil {
		b.t.Fatalf("chromium: %v\n%s", err, b.log.String())
	}
	if result != nil {
		if err := json.Unmarshal(data, result); err != nil {
			b.t.Fatalf("chromium: %s: %v in %s", method, err, data)
		}
	}
}

// eval evaluates a JavaScript expression in the page (awaiting it when it
// is a promise) and decodes its value into result.
func (b *browser) eval(expr string, result any) {
	b.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.must("Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, b.session, &r)
	if r.Exception != nil {
		b.t.Fatalf("chromium: %s: %s %s", expr, r.Exception.Text, r.Exception.Exception.Description)
	}
	if err := json.Unmarshal(r.Result.Value, result); err != nil {
		b.t.Fatalf("chromium: %s: %v in %s", expr, err, r.Result.Value)
	}
}

// screenshot returns the page as PNG.
func (b *browser) screenshot() []byte {
	b.t.Helper()
	var shot struct {
		Data []byte `json:"data"` // base64 in JSON
	}
	b.must("Page.captureScreenshot", map[string]any{"format": "png"}, b.session, &shot)
	return shot.Data
}

package reliability

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Hostile etcd data through a real etcd and `reconfig apply`: binary
// values, invalid UTF-8, NUL bytes, a 1 MiB value, keys with "..", "/"
// runs, white space and invalid UTF-8. A value that cannot be text fails its binding with
// an error naming the key (the old content kept), and so does a key that
// is not UTF-8 and reaches the output; base64Encode carries it;
// a 1 MiB value is written whole; keys never steer a write: only the
// targets exist afterwards.
func TestHostileEtcdData(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	big := strings.Repeat("0123456789abcde\n", 1<<16) // 1 MiB
	data := map[string]string{
		"/bin/v":                "\x00\x01\xfe\xff",
		"/utf/v":                "caf\xe9",
		"/big/v":                big,
		"/dots/../../../etc/x":  "dots",
		"/dots/a/..":            "dotdot",
		"/dots//double":         "double",
		"/odd/\xff\xfe":         "oddkey",
		"/dots/sp ace\ttab\nnl": "ws",
	}
	for k, v := range data {
		if _, err := srv.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t, srv.ClientURL)
	f.write("templates/kv.tmpl", kvTemplate)
	f.write("templates/b64.tmpl", "{{range $k, $v := .Data}}{{base64Encode $v}}\n{{end}}")
	f.write("templates/keys.tmpl", "{{range $k, $v := .Data}}{{printf \"%q\" $k}} {{base $k}} {{$v}}\n{{end}}")
	for _, b := range []struct{ id, key, src string }{
		{"bin", "/bin", "kv.tmpl"}, {"utf", "/utf", "kv.tmpl"}, {"b64", "/bin", "b64.tmpl"},
		{"big", "/big", "kv.tmpl"}, {"dots", "/dots", "keys.tmpl"}, {"odd", "/odd", "keys.tmpl"},
	} {
		f.binding(b.id, map[string]any{"key": b.key, "recursive": true, "source": b.src, "target": "$OUT/" + b.id + ".conf"})
	}
	for _, id := range []string{"bin", "utf", "odd"} {
		f.write(f.target(id+".conf"), "old "+id+"\n")
	}
	r := f.run("apply", "--auto-approve")
	if r.code != 1 {
		t.Fatalf("apply with binary values: %s", r)
	}
	for _, want := range []string{"key /bin/v holds binary data", "key /utf/v holds binary data", "use base64Encode",
		`binding "odd": template ` + f.dir + `/templates/keys.tmpl: rendered output is not valid UTF-8`} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Fatalf("apply does not say %q: %s", want, r)
		}
	}
	for _, id := range []string{"bin", "utf", "odd"} {
		if got := readFile(t, f.target(id+".conf")); got != "old "+id+"\n" {
			t.Fatalf("%s.conf = %q, want its old content", id, got)
		}
	}
	if got := readFile(t, f.target("b64.conf")); got != base64.StdEncoding.EncodeToString([]byte(data["/bin/v"]))+"\n" {
		t.Fatalf("b64.conf = %q", got)
	}
	if got := readFile(t, f.target("big.conf")); got != "v="+big+"\n" {
		t.Fatalf("big.conf holds %d bytes, want the 1 MiB value whole", len(got))
	}
	if _, err := os.Stat(f.target("dots.conf")); err != nil {
		t.Fatalf("dots.conf: %v\n%s", err, r)
	}
	dots := readFile(t, f.target("dots.conf"))
	for _, want := range []string{`"/dots/../../../etc/x" x dots`, `"/dots/sp ace\ttab\nnl" sp ace`, `"/dots//double" double double`} {
		if !strings.Contains(dots, want) {
			t.Fatalf("dots.conf lacks %q:\n%s", want, dots)
		}
	}
	var files []string
	filepath.WalkDir(filepath.Dir(f.out), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(p, f.dir+"/") && !strings.HasPrefix(p, f.marks+"/") {
			files = append(files, strings.TrimPrefix(p, f.out+"/"))
		}
		return nil
	})
	if want := []string{"b64.conf", "big.conf", "bin.conf", "dots.conf", "odd.conf", "utf.conf"}; !bytes.Equal([]byte(strings.Join(files, " ")), []byte(strings.Join(want, " "))) {
		t.Fatalf("files written: %v, want only the targets %v", files, want)
	}
}

// A runaway template under `reconfig watch` (a render that would take far
// longer than its render_timeout) holds nothing: the state lock is free
// while it renders, so a cron `apply` goes through at once; SIGTERM stops
// the daemon without waiting for the render; the binding fails alone, and
// later cycles of other bindings' changes do not render it again.
func TestRunawayTemplateUnderWatch(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/runaway/n", "1")
	etcdtest.PutEventually(t, c, "/good/n", "1")
	f := newFixture(t, srv.ClientURL)
	f.write("templates/runaway.tmpl", `{{$a := seq 1 1000000}}{{range $a}}{{range $a}}{{end}}{{end}}`)
	f.write("templates/kv.tmpl", kvTemplate)
	f.binding("runaway", map[string]any{"key": "/runaway", "recursive": true, "source": "runaway.tmpl",
		"target": "$OUT/runaway.conf", "render_timeout": "2m"})
	f.binding("good", map[string]any{"key": "/good", "recursive": true, "source": "kv.tmpl", "target": "$OUT/good.conf"})
	d := f.startWatch()
	d.awaitLog("snapshot taken", 1, 20*time.Second)

	// The daemon is rendering: the lock is free for a cron apply.
	if r := f.run("apply", "--auto-approve", "--target", "good", "--lock-timeout", "0"); r.code != 0 {
		t.Fatalf("a cron apply while the daemon renders a runaway template: %s", r)
	}
	if got := readFile(t, f.target("good.conf")); got != "n=1\n" {
		t.Fatalf("good.conf = %q", got)
	}
	// SIGTERM: the daemon stops now, not after the render's two minutes.
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop within 30s of SIGTERM while rendering a runaway template")
	}
	if d.err != nil {
		t.Fatalf("the daemon exited with %v", d.err)
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))

	// With a short render_timeout the binding fails alone, and good's
	// changes converge in cycles of their own.
	f.binding("runaway", map[string]any{"key": "/runaway", "recursive": true, "source": "runaway.tmpl",
		"target": "$OUT/runaway.conf", "render_timeout": "300ms"})
	d = f.startWatch()
	d.awaitLog("rendering did not finish within 300ms (render_timeout)", 1, 20*time.Second)
	for i := 2; i <= 4; i++ {
		etcdtest.PutEventually(t, c, "/good/n", fmt.Sprint(i))
		awaitContent(t, f.target("good.conf"), fmt.Sprintf("n=%d\n", i), 20*time.Second)
	}
	if _, err := os.Stat(f.target("runaway.conf")); !os.IsNotExist(err) {
		t.Fatal("runaway.conf was written")
	}
	d.alive()
}

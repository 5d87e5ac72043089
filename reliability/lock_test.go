//go:build linux

package reliability

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

const lockBindings = 4

// Every check and reload command logs "S <reconfig pid> <state serial it
// sees> <what>" when it starts and "E <pid> <what>" when it ends, so the
// log shows who wrote when.
const lockCmd = `s=$(grep -o '"serial": [0-9]*' $CFG/state.json 2>/dev/null | grep -o '[0-9]*$'); ` +
	`echo "S $PPID ${s:-0} %s" >> $MARKS/log; sleep 0.005; echo "E $PPID %s" >> $MARKS/log`

// Lock and state: two `reconfig apply` processes and a `reconfig watch`
// start together, round after round (50 in `make test-long`), while etcd
// changes each time one of them starts writing. Never do two processes
// write at once; each writer sees a newer state serial than the one before
// it; after each round the state's serial has grown and it records every
// binding with the hash of its target.
func TestConcurrentWriters(t *testing.T) {
	rounds := size(8, 50)
	srv := etcdtest.Start(t)
	ctx := context.Background()
	f := newFixture(t, srv.ClientURL)
	f.write("templates/kv.tmpl", kvTemplate)
	for i := range lockBindings {
		id := fmt.Sprintf("w%d", i)
		f.binding(id, map[string]any{"key": fmt.Sprintf("/w/%d", i), "source": "kv.tmpl", "target": "$OUT/" + id + ".conf",
			"checkcmd": fmt.Sprintf(lockCmd, "check-"+id, "check-"+id), "reloadcmd": fmt.Sprintf(lockCmd, "reload", "reload")})
	}
	logPath := f.marks + "/log"
	marks := watchDir(t, f.marks)
	puts := 0
	put := func(round, n int) {
		data := map[string]string{}
		for i := range lockBindings {
			data[fmt.Sprintf("/w/%d", i)] = fmt.Sprintf("%d.%d", round, n)
		}
		if _, err := srv.Load(ctx, data); err != nil {
			t.Fatal(err)
		}
		puts++
	}
	var lastSerial int64
	writers := map[int]bool{}
	sessions := 0
	for round := range rounds {
		os.WriteFile(logPath, nil, 0o644)
		put(round, 0)
		from := marks.mark()
		a, b := f.command("apply", "--auto-approve", "--lock-timeout", "60s"), f.command("apply", "--auto-approve", "--lock-timeout", "60s")
		var aOut, bOut testfixtures.SyncBuffer
		a.Stdout, a.Stderr, b.Stdout, b.Stderr = &aOut, &aOut, &bOut, &bOut
		for _, c := range []interface{ Start() error }{a, b} {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		d := f.startWatch()
		// Change etcd each time a writer starts its commands (up to five
		// times), so that the next lock holder has something to write.
		for n := 1; n <= 5; n++ {
			next := marks.wait(from, func(e dirEvent) bool { return e.Name == "log" && e.Mask&syscall.IN_MODIFY != 0 }, nil, 30*time.Second)
			if next < 0 {
				break
			}
			from = next
			put(round, n)
		}
		for name, c := range map[string]*struct {
			cmd interface{ Wait() error }
			out *testfixtures.SyncBuffer
		}{"first apply": {a, &aOut}, "second apply": {b, &bOut}} {
			if err := c.cmd.Wait(); err != nil {
				t.Fatalf("round %d: %s: %v\n%s", round, name, err, c.out.String())
			}
		}
		// The daemon converges on the last data, then stops.
		for i := range lockBindings {
			awaitContent(t, f.target(fmt.Sprintf("w%d.conf", i)), fmt.Sprintf("%d=%d.5\n", i, round), 30*time.Second)
		}
		eventually(t, 20*time.Second, "the last commands to end", func() bool {
			l := readFile(t, logPath)
			return strings.Count(l, "S ") == strings.Count(l, "E ")
		})
		d.stop()

		// Never two writers; each new writer sees a newer serial.
		active := map[int]int{}
		prevPID, prevSerial := 0, int64(-1)
		for ln, line := range strings.Split(strings.TrimSpace(readFile(t, logPath)), "\n") {
			fs := strings.Fields(line)
			if len(fs) < 3 {
				t.Fatalf("round %d: bad log line %q", round, line)
			}
			pid, _ := strconv.Atoi(fs[1])
			switch fs[0] {
			case "S":
				for other, n := range active {
					if other != pid && n > 0 {
						t.Fatalf("round %d, log line %d: pid %d runs a command while pid %d is still writing:\n%s", round, ln+1, pid, other, readFile(t, logPath))
					}
				}
				active[pid]++
				serial, _ := strconv.ParseInt(fs[2], 10, 64)
				if pid != prevPID {
					if serial <= prevSerial {
						t.Fatalf("round %d, log line %d: writer %d sees state serial %d, not newer than the previous writer's %d", round, ln+1, pid, serial, prevSerial)
					}
					sessions++
					prevPID, prevSerial = pid, serial
				}
				writers[pid] = true
			case "E":
				active[pid]--
			}
		}
		st, err := state.Load(f.statePath())
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if st.Serial <= lastSerial {
			t.Fatalf("round %d: state serial %d, not above the last round's %d", round, st.Serial, lastSerial)
		}
		lastSerial = st.Serial
		for i := range lockBindings {
			id := fmt.Sprintf("w%d", i)
			h := hash([]byte(readFile(t, f.target(id+".conf"))))
			if rec := st.Bindings[id]; rec == nil || rec.SHA256 != h {
				t.Fatalf("round %d: state record of %s is %+v, want the target's hash %s", round, id, rec, h)
			}
		}
	}
	t.Logf("%d rounds, %d processes, %d etcd changes, %d lock-holding writer sessions by %d processes, final serial %d",
		rounds, 3*rounds, puts, sessions, len(writers), lastSerial)
	if sessions <= rounds {
		t.Fatalf("only %d writer sessions in %d rounds: the writers did not contend", sessions, rounds)
	}
}

// A truncated or corrupted state file is refused — by apply with a clear
// message and a hint, by the daemon with a log line — never silently
// reset: the file stays as it is and no target is written. The daemon
// keeps retrying, and once the state is restored it converges without a
// change in etcd.
func TestDamagedStateRefused(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	f := appFixture(t, srv.ClientURL)
	f.mustApply()
	good, err := os.ReadFile(f.statePath())
	if err != nil {
		t.Fatal(err)
	}
	etcdtest.PutEventually(t, c, "/app/a", "2") // so that an apply ignoring the state would write
	target := f.target("app.conf")
	damaged := map[string][]byte{
		"empty":             {},
		"one byte":          good[:1],
		"cut in half":       good[:len(good)/2],
		"cut before the }":  bytes.TrimRight(good, "}\n"),
		"a byte flipped":    bytes.Replace(good, []byte(`"serial"`), []byte(`"ser\x01al"`), 1),
		"NUL bytes":         make([]byte, len(good)),
		"not a state":       []byte(`{"hello": "world"}`),
		"serial gone":       bytes.Replace(good, []byte(`"serial"`), []byte(`"xerial"`), 1),
		"binding no target": bytes.Replace(good, []byte(`"target"`), []byte(`"xtarget"`), 1),
	}
	for name, data := range damaged {
		if err := os.WriteFile(f.statePath(), data, 0o600); err != nil {
			t.Fatal(err)
		}
		r := f.run("apply", "--auto-approve")
		if r.code != 1 || !strings.Contains(r.stderr, "reconfig: error: state file "+f.statePath()) || !strings.Contains(r.stderr, "\nhint: ") {
			t.Fatalf("state %s: %s", name, r)
		}
		if got, _ := os.ReadFile(f.statePath()); !bytes.Equal(got, data) {
			t.Fatalf("state %s: the state file was changed", name)
		}
		if got := readFile(t, target); got != "a=1\n" {
			t.Fatalf("state %s: the target was written: %q", name, got)
		}
	}

	// The daemon with a cut state: it refuses, writes nothing, retries.
	os.WriteFile(f.statePath(), good[:len(good)/2], 0o600)
	d := f.startWatch()
	d.awaitLog(`cycle skipped: no file is touched; it is tried again" error="the state cannot be used`, 2, 30*time.Second)
	if got := readFile(t, target); got != "a=1\n" {
		t.Fatalf("the daemon wrote the target with a corrupt state: %q", got)
	}
	// Restored (atomically, as an operator's mv would): it converges.
	f.write(f.dir+"/state.restored", string(good))
	os.Chmod(f.dir+"/state.restored", 0o600)
	if err := os.Rename(f.dir+"/state.restored", f.statePath()); err != nil {
		t.Fatal(err)
	}
	awaitContent(t, target, "a=2\n", 30*time.Second)
	f.awaitRecorded("app.conf")
	st, err := state.Load(f.statePath())
	if err != nil || st.Serial <= 1 {
		t.Fatalf("state after the restore: serial %v, %v", st, err)
	}
	d.alive()
}

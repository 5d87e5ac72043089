package reliability

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// gone reports whether the process pid has ended (a zombie counts: it
// runs nothing).
func gone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}

func pidFrom(t *testing.T, path string) int {
	t.Helper()
	var pid int
	eventually(t, 10*time.Second, "a pid in "+path, func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

// Command faults under `reconfig watch`: a checkcmd that hangs past
// command_timeout is killed with the children it started and the target
// keeps its old content; a reloadcmd that fails is reported and retried at
// the next resync; a reloadcmd that leaves a child running does not hold
// the daemon. After each the daemon keeps going and the next change
// applies.
func TestCommandFaults(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	for _, k := range []string{"/hang", "/fr", "/lo"} {
		etcdtest.PutEventually(t, c, k, "1")
	}
	f := newFixture(t, srv.ClientURL)
	f.write("templates/kv.tmpl", kvTemplate)
	f.write(f.marks+"/hang.sh", `#!/bin/sh
if [ -e $MARKS/hang-on ]; then
	echo "$1" >> $MARKS/hang-src
	sleep 60 & echo $! > $MARKS/hang-child
	echo $$ > $MARKS/hang-pid
	wait
fi
`)
	f.write(f.marks+"/reload.sh", `#!/bin/sh
[ -e $MARKS/fail-on ] && exit 3
echo "ok $RECONFIG_REVISION" >> $MARKS/reloads
`)
	f.binding("hang", map[string]any{"key": "/hang", "source": "kv.tmpl", "target": "$OUT/hang.conf",
		"checkcmd": "sh $MARKS/hang.sh {{.src}}", "command_timeout": "500ms"})
	f.binding("fr", map[string]any{"key": "/fr", "source": "kv.tmpl", "target": "$OUT/fr.conf", "reloadcmd": "sh $MARKS/reload.sh"})
	f.binding("lo", map[string]any{"key": "/lo", "source": "kv.tmpl", "target": "$OUT/lo.conf",
		"reloadcmd": "sleep 300 & echo $! > $MARKS/leftover-pid"})
	d := f.startWatch("--resync", "1s")
	for _, n := range []string{"hang", "fr", "lo"} {
		awaitContent(t, f.target(n+".conf"), n+"=1\n", 20*time.Second)
	}

	// A check that hangs: killed at the timeout with its child; the old
	// content stays; the next change applies.
	f.write(f.marks+"/hang-on", "")
	etcdtest.PutEventually(t, c, "/hang", "2")
	d.awaitLog("timed out after 500ms and was killed", 1, 20*time.Second)
	for _, p := range []string{"hang-pid", "hang-child"} {
		pid := pidFrom(t, f.marks+"/"+p)
		eventually(t, 10*time.Second, "the hung check's process "+p+" to be killed", func() bool { return gone(pid) })
	}
	if got := readFile(t, f.target("hang.conf")); got != "hang=1\n" {
		t.Fatalf("hang.conf = %q after its check hung, want the old content", got)
	}
	// The staged file the hung check was given is gone. (The daemon may
	// already be trying the binding again, with a staged file of its own.)
	staged := strings.SplitN(readFile(t, f.marks+"/hang-src"), "\n", 2)[0]
	if !strings.Contains(staged, "/.reconfig-") {
		t.Fatalf("the check was given %q, not a staged file", staged)
	}
	eventually(t, 10*time.Second, "the hung check's staged file to be removed", func() bool {
		_, err := os.Stat(staged)
		return os.IsNotExist(err)
	})
	os.Remove(f.marks + "/hang-on")
	etcdtest.PutEventually(t, c, "/hang", "3")
	awaitContent(t, f.target("hang.conf"), "hang=3\n", 20*time.Second)

	// A reload that fails: reported; retried at the next resync once it
	// works, without a change in etcd; the next change applies.
	f.write(f.marks+"/fail-on", "")
	rev := etcdtest.PutEventually(t, c, "/fr", "2")
	d.awaitLog("reload failed", 1, 20*time.Second)
	d.awaitLog("exited with status 3", 1, 20*time.Second)
	if got := readFile(t, f.target("fr.conf")); got != "fr=2\n" {
		t.Fatalf("fr.conf = %q; a failed reload leaves the checked new content", got)
	}
	os.Remove(f.marks + "/fail-on")
	eventually(t, 20*time.Second, "the failed reload to be retried at the resync", func() bool {
		data, _ := os.ReadFile(f.marks + "/reloads")
		return strings.Contains(string(data), "ok "+strconv.FormatInt(rev, 10)+"\n") ||
			strings.Count(string(data), "ok ") >= 2
	})
	etcdtest.PutEventually(t, c, "/fr", "3")
	awaitContent(t, f.target("fr.conf"), "fr=3\n", 20*time.Second)

	// A reload that leaves a child holding its output: the daemon goes on.
	etcdtest.PutEventually(t, c, "/lo", "2")
	awaitContent(t, f.target("lo.conf"), "lo=2\n", 20*time.Second)
	leftover := pidFrom(t, f.marks+"/leftover-pid")
	t.Cleanup(func() { syscall.Kill(leftover, syscall.SIGKILL) })
	etcdtest.PutEventually(t, c, "/hang", "4")
	awaitContent(t, f.target("hang.conf"), "hang=4\n", 20*time.Second)
	if gone(leftover) {
		t.Fatalf("the reload's child was killed; it was meant to keep running")
	}
	d.alive()
}

//go:build linux

package reliability

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

const crashTargets = 20

// crashContent is what binding i renders for generation gen: 150 lines
// that all name the generation, so that a mix of two versions, a
// truncated or an empty file differs from both.
func crashContent(i, gen int) string {
	var b strings.Builder
	for l := 1; l <= 150; l++ {
		fmt.Fprintf(&b, "/crash/%02d gen-%06d line %d\n", i, gen, l)
	}
	return b.String()
}

// The check command logs "C+ id" when it starts and "C= id sha256" with
// the hash of the file it passed; the reload command (shared by all
// bindings, so it runs once per apply) logs "R+", then "R= target sha256"
// for each target it reloaded and "R." at its end. Both take a little
// time, so that kills land while they run too.
const (
	crashCheck = `#!/bin/sh
echo "C+ $RECONFIG_ID" >> $MARKS/log
sleep 0.01
grep -q ' gen-' "$1" || exit 1
echo "C= $RECONFIG_ID $(sha256sum < "$1" | cut -c1-64)" >> $MARKS/log
`
	crashReload = `#!/bin/sh
echo "R+" >> $MARKS/log
: > $MARKS/reload-started
sleep 0.02
for f in $RECONFIG_TARGET; do echo "R= $f $(sha256sum < "$f" | cut -c1-64)" >> $MARKS/log; done
echo "R." >> $MARKS/log
`
)

// crashBindings writes n bindings b00… reading /crash/NN into $OUT/tNN.conf,
// with the check script given and the shared crashReload: half check the
// staged file before the rename, half the installed one after it.
func crashBindings(f *fixture, n int, check string) {
	f.write(f.marks+"/check.sh", check)
	f.write(f.marks+"/reload.sh", crashReload)
	f.write("templates/page.tmpl", "{{range $k, $v := .Data}}{{range seq 1 150}}{{$k}} {{$v}} line {{.}}\n{{end}}{{end}}")
	for i := range n {
		check := "sh $MARKS/check.sh {{.src}}"
		if i%2 == 1 {
			check = "sh $MARKS/check.sh {{.dest}}"
		}
		f.binding(fmt.Sprintf("b%02d", i), map[string]any{"key": fmt.Sprintf("/crash/%02d", i), "source": "page.tmpl",
			"target": fmt.Sprintf("$OUT/t%02d.conf", i), "checkcmd": check, "reloadcmd": "sh $MARKS/reload.sh"})
	}
}

// Crash safety: `reconfig apply` writing 20 targets is killed with SIGKILL
// at a random point, run after run. After every kill each target holds its
// old or its new content byte for byte, and the state file parses; the next
// apply exits 0, leaves no staged temporary file, records every target and
// converges: every target's content has passed its check and been
// reloaded.
func TestApplyKilled(t *testing.T) {
	runs := size(24, 200)
	srv := etcdtest.Start(t)
	ctx := context.Background()
	f := newFixture(t, srv.ClientURL)
	crashBindings(f, crashTargets, crashCheck)
	setGen := func(gen int) {
		data := map[string]string{}
		for i := range crashTargets {
			data[fmt.Sprintf("/crash/%02d", i)] = fmt.Sprintf("gen-%06d", gen)
		}
		if _, err := srv.Load(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	logPath := f.marks + "/log"
	outEvents := watchDir(t, f.out)
	markEvents := watchDir(t, f.marks)

	// The kill comes 0–50 ms after an anchor, taken in turn: the start of
	// the process, the first staged file, the first rename of a target,
	// the start of the reload.
	anchors := []struct {
		name string
		ev   *dirEvents
		dir  string
		is   func(dirEvent) bool
	}{
		{"process start", nil, "", nil},
		{"first staged file", outEvents, f.out, func(e dirEvent) bool {
			return e.Mask&syscall.IN_CREATE != 0 && strings.HasPrefix(e.Name, ".reconfig-")
		}},
		{"first rename", outEvents, f.out, func(e dirEvent) bool {
			return e.Mask&syscall.IN_MOVED_TO != 0 && strings.HasPrefix(e.Name, "t")
		}},
		{"reload start", markEvents, f.marks, func(e dirEvent) bool { return e.Name == "reload-started" }},
	}

	phases := map[string]int{}
	kills := 0
	// Generation 0 has no targets yet: the first killed apply creates them.
	for run := range runs {
		gen := run + 1
		old := make([]string, crashTargets) // "" for no file
		for i := range crashTargets {
			if b, err := os.ReadFile(f.target(fmt.Sprintf("t%02d.conf", i))); err == nil {
				old[i] = string(b)
			} else if !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		}
		serialBefore := int64(0)
		if st, err := state.Load(f.statePath()); err == nil {
			serialBefore = st.Serial
		}
		setGen(gen)
		os.WriteFile(logPath, nil, 0o644)
		os.Remove(f.marks + "/reload-started")

		a := anchors[run%len(anchors)]
		from := 0
		if a.ev != nil {
			// Past every event of the previous run's applies.
			from = a.ev.settle(t, a.dir)
		}
		cmd := f.command("apply", "--auto-approve")
		var out testfixtures.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		if a.ev != nil {
			a.ev.wait(from, a.is, exited, 30*time.Second)
		}
		time.Sleep(rand.N(50 * time.Millisecond)) // the random kill delay, not a synchronisation
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		killed := false
		var ee interface{ Sys() any }
		if errors.As(waitErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				killed = true
			}
		}
		if !killed && waitErr != nil {
			t.Fatalf("run %d: apply failed on its own: %v\n%s", run, waitErr, out.String())
		}

		// Every target is old or new, byte for byte.
		newCount := 0
		for i := range crashTargets {
			name := fmt.Sprintf("t%02d.conf", i)
			b, err := os.ReadFile(f.target(name))
			got := string(b)
			switch {
			case errors.Is(err, fs.ErrNotExist) && old[i] == "":
			case err != nil:
				t.Fatalf("run %d (kill after %s): %s: %v", run, a.name, name, err)
			case got == crashContent(i, gen):
				newCount++
			case got == old[i]:
			default:
				t.Fatalf("run %d (kill after %s): %s holds neither its old nor its new content (%d bytes):\n%.300s", run, a.name, name, len(got), got)
			}
		}
		// The state file parses.
		st, err := state.Load(f.statePath())
		if err != nil {
			t.Fatalf("run %d (kill after %s): the state file does not parse: %v", run, a.name, err)
		}
		phase := "completed before the kill"
		if killed {
			kills++
			staged := len(strays(t, f.out)) > 0
			checked := strings.Contains(readFile(t, logPath), "C+")
			switch {
			case st.Serial > serialBefore:
				phase = "after the state was saved"
			case newCount == crashTargets:
				phase = "after every rename (checks, reload, state)"
			case newCount > 0:
				phase = "between renames"
			case staged || checked:
				phase = "staging or checking staged files"
			default:
				phase = "before any write"
			}
		}
		phases[phase]++

		// Checks and reloads of the killed process run on as orphans:
		// let them finish before judging what was checked and reloaded.
		eventually(t, 20*time.Second, "orphaned check and reload commands to finish", func() bool {
			l := readFile(t, logPath)
			return strings.Count(l, "C+") == strings.Count(l, "C=") && strings.Count(l, "R+") == strings.Count(l, "R.")
		})

		// The next apply converges.
		if r := f.run("apply", "--auto-approve"); r.code != 0 {
			t.Fatalf("run %d (kill %s): the apply after the kill: %s", run, phase, r)
		}
		if s := strays(t, f.out, f.dir); len(s) > 0 {
			t.Fatalf("run %d (kill %s): staged files left after the next apply: %v", run, phase, s)
		}
		st, err = state.Load(f.statePath())
		if err != nil {
			t.Fatalf("run %d: state after the next apply: %v", run, err)
		}
		log := readFile(t, logPath)
		for i := range crashTargets {
			name, id := fmt.Sprintf("t%02d.conf", i), fmt.Sprintf("b%02d", i)
			want := crashContent(i, gen)
			if got := readFile(t, f.target(name)); got != want {
				t.Fatalf("run %d (kill %s): %s after the next apply holds %.200q, want generation %d", run, phase, name, got, gen)
			}
			h := hash([]byte(want))
			if rec := st.Bindings[id]; rec == nil || rec.SHA256 != h || rec.Error != "" {
				t.Fatalf("run %d (kill %s): state record of %s is %+v, want sha256 %s and no error", run, phase, id, rec, h)
			}
			if !strings.Contains(log, "C= "+id+" "+h) {
				t.Fatalf("run %d (kill %s): the content of %s was never checked (command log:\n%s)", run, phase, name, log)
			}
			if !strings.Contains(log, "R= "+f.target(name)+" "+h) {
				t.Fatalf("run %d (kill %s): %s was not reloaded after its content changed (command log:\n%s)", run, phase, name, log)
			}
		}
	}
	var names []string
	for p := range phases {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		t.Logf("%4d kills %s", phases[p], p)
	}
	t.Logf("%d runs, %d processes killed", runs, kills)
	if kills < runs/2 {
		t.Fatalf("only %d of %d runs were killed before apply finished: the kills do not test anything", kills, runs)
	}
	if want := size(3, 4); len(phases) < want {
		t.Fatalf("the kills landed in only %d phases of apply (%v); want at least %d", len(phases), phases, want)
	}
}

// The files a killed apply staged are removed by the next apply even when
// that apply has nothing to write — the killed one had renamed the target
// already — and a staged state file left by a kill during the state save
// goes too.
func TestNextApplyRemovesStagedFilesOfTheKilled(t *testing.T) {
	srv := etcdtest.Start(t)
	if _, err := srv.Put(context.Background(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, srv.ClientURL)
	f.write("templates/t.tmpl", `{{getv "/k"}}`)
	f.binding("b", map[string]any{"key": "/k", "source": "t.tmpl", "target": "$OUT/b.conf"})
	f.mustApply()
	// What a process killed between staging and renaming leaves: a staged
	// copy of a target and of the state file.
	left := []string{f.out + "/.reconfig-0123456789ab.b.conf", f.dir + "/.reconfig-0123456789ab.state.json"}
	for _, p := range left {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.mustApply(); !strings.Contains(r.stdout, "No changes.") {
		t.Fatalf("want a no-op apply:\n%s", r)
	}
	if s := strays(t, f.out, f.dir); len(s) > 0 {
		t.Fatalf("staged files of a killed apply left after the next applies: %v", s)
	}
}

// Crash safety with failing checks: every other generation of the data is
// bad — the check command refuses it, both the one that checks the staged
// file and the one that checks the installed target — and `reconfig apply`
// is killed at a random point: during staging, between renames, while a
// check runs, while the reload runs, while the state is saved. However the
// kill lands, after the next apply no target holds content that failed
// (or never passed) its check: a bad generation leaves the last good one
// in place, and a good one is installed, checked and reloaded.
func TestApplyKilledWithFailingChecks(t *testing.T) {
	runs := size(20, 120)
	const n = 8
	srv := etcdtest.Start(t)
	ctx := context.Background()
	f := newFixture(t, srv.ClientURL)
	crashBindings(f, n, `#!/bin/sh
echo "C+ $RECONFIG_ID" >> $MARKS/log
: > $MARKS/check-started
sleep 0.01
grep -q ' gen-' "$1" || exit 1
grep -q ' bad-' "$1" && exit 1
echo "C= $RECONFIG_ID $(sha256sum < "$1" | cut -c1-64)" >> $MARKS/log
`)
	// Generation g renders "gen-…" when good and "bad-gen-…" when odd.
	content := func(i, gen int) string {
		var b strings.Builder
		tag := fmt.Sprintf("gen-%06d", gen)
		if gen%2 == 1 {
			tag = "bad-" + tag
		}
		for l := 1; l <= 150; l++ {
			fmt.Fprintf(&b, "/crash/%02d %s line %d\n", i, tag, l)
		}
		return b.String()
	}
	setGen := func(gen int) {
		data := map[string]string{}
		for i := range n {
			v := fmt.Sprintf("gen-%06d", gen)
			if gen%2 == 1 {
				v = "bad-" + v
			}
			data[fmt.Sprintf("/crash/%02d", i)] = v
		}
		if _, err := srv.Load(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	logPath := f.marks + "/log"
	outEvents, markEvents, stateEvents := watchDir(t, f.out), watchDir(t, f.marks), watchDir(t, f.dir)
	anchors := []struct {
		name string
		ev   *dirEvents
		dir  string
		is   func(dirEvent) bool
	}{
		{"first staged file", outEvents, f.out, func(e dirEvent) bool {
			return e.Mask&syscall.IN_CREATE != 0 && strings.HasPrefix(e.Name, ".reconfig-")
		}},
		{"first rename", outEvents, f.out, func(e dirEvent) bool {
			return e.Mask&syscall.IN_MOVED_TO != 0 && strings.HasPrefix(e.Name, "t")
		}},
		{"check start", markEvents, f.marks, func(e dirEvent) bool { return e.Name == "check-started" }},
		{"reload start", markEvents, f.marks, func(e dirEvent) bool { return e.Name == "reload-started" }},
		{"state save", stateEvents, f.dir, func(e dirEvent) bool {
			return e.Mask&syscall.IN_CREATE != 0 && strings.HasPrefix(e.Name, ".reconfig-") && strings.HasSuffix(e.Name, "state.json")
		}},
	}

	setGen(0)
	f.mustApply()
	good := 0
	kills := 0
	for run := range runs {
		gen := run + 1
		setGen(gen)
		os.WriteFile(logPath, nil, 0o644)
		os.Remove(f.marks + "/reload-started")
		os.Remove(f.marks + "/check-started")
		a := anchors[run%len(anchors)]
		from := a.ev.settle(t, a.dir)
		cmd := f.command("apply", "--auto-approve")
		var out testfixtures.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		a.ev.wait(from, a.is, exited, 30*time.Second)
		time.Sleep(rand.N(20 * time.Millisecond)) // the random kill delay, not a synchronisation
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if cmd.ProcessState.ExitCode() == -1 {
			kills++
		}
		r := f.run("apply", "--auto-approve")
		if gen%2 == 0 {
			good = gen
			if r.code != 0 {
				t.Fatalf("run %d (kill after %s): the apply after the kill: %s", run, a.name, r)
			}
		} else if r.code != 1 {
			t.Fatalf("run %d (kill after %s): the apply of a bad generation after the kill exited %d, want 1:\n%s", run, a.name, r.code, r)
		}
		if s := strays(t, f.out, f.dir); len(s) > 0 {
			t.Fatalf("run %d (kill after %s): staged files left: %v", run, a.name, s)
		}
		if _, err := os.Stat(f.statePath() + ".journal"); !os.IsNotExist(err) {
			t.Fatalf("run %d (kill after %s): the journal is still there after the next apply:\n%s", run, a.name, r)
		}
		log := readFile(t, logPath)
		for i := range n {
			name := fmt.Sprintf("t%02d.conf", i)
			got, want := readFile(t, f.target(name)), content(i, good)
			if got != want {
				t.Fatalf("run %d (kill after %s, generation %d): %s holds %.60q…, want the last good generation %d\n%s", run, a.name, gen, name, got, good, r)
			}
			if good == gen && !strings.Contains(log, "C= "+fmt.Sprintf("b%02d", i)+" "+hash([]byte(want))) {
				t.Fatalf("run %d (kill after %s): %s was never checked (command log:\n%s)", run, a.name, name, log)
			}
		}
	}
	t.Logf("%d runs, %d processes killed", runs, kills)
	if kills < runs/2 {
		t.Fatalf("only %d of %d runs were killed before apply finished", kills, runs)
	}
}

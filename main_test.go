package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/internal/devkit"
	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

var update = flag.Bool("update", false, "rewrite the golden files of the scripts")

// The test binary acts as reconfig, and as the reconfig-dev that
// `reconfig dev` runs (found beside it: testscript puts both in one
// directory).
func TestMain(m *testing.M) {
	exit := func(code int) {
		if f := os.Getenv("RECONFIG_TEST_STATUS_FILE"); f != "" {
			os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644)
		}
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"reconfig": func() { exit(run(context.Background(), os.Args, os.Stdout, os.Stderr)) },
		command.DevBinary: func() {
			exit(command.RunDev(context.Background(), os.Args, command.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, devkit.Kit{}))
		},
	})
}

// TestScripts runs the CLI scripts of testdata/script, each against its own
// embedded etcd.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup:               setupScript,
		Cmds:                scriptCmds,
	})
}

type serverKey struct{}

// locks are the state locks held by scripts (lock/unlock).
var locks = map[*testscript.TestScript]*state.Lock{}

func setupScript(env *testscript.Env) error {
	srv, err := embedded.Start(embedded.Options{Dir: filepath.Join(env.WorkDir, ".etcd"), Fast: true})
	if err != nil {
		return err
	}
	env.Defer(srv.Close)
	env.Values[serverKey{}] = srv
	env.Setenv("RECONFIG_ENDPOINTS", srv.ClientURL)
	env.Setenv("ETCD_ENDPOINT", srv.ClientURL)
	env.Setenv("ETCD_PORT", srv.ClientURL[strings.LastIndex(srv.ClientURL, ":")+1:])
	env.Setenv("ETCD_CLUSTER_ID", fmt.Sprintf("%016x", uint64(srv.Etcd.Server.Cluster().ID())))
	env.Setenv("RECONFIG_TEST_STATUS_FILE", filepath.Join(env.WorkDir, ".status"))
	env.Setenv("RECONFIG_DIAL_TIMEOUT", "2s")
	env.Setenv("METRICS_ADDR", etcdtest.FreeAddr())
	env.Setenv("DEV_ADDR", etcdtest.FreeAddr())
	env.Setenv("NO_COLOR", "")
	env.Setenv("HOME", env.WorkDir)
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	env.Setenv("FIXTURES", filepath.Join(wd, "testfixtures"))
	return nil
}

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// status N: the last `exec reconfig` exited with status N.
	"status": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: status N")
		}
		data, err := os.ReadFile(ts.MkAbs(".status"))
		ts.Check(err)
		if got := strings.TrimSpace(string(data)); (got == args[0]) == neg {
			ts.Fatalf("exit status %s, want %s%s", got, map[bool]string{true: "not "}[neg], args[0])
		}
	},
	// etcd put KEY VALUE | etcd del KEY [-r] | etcd load FILE | etcd compact
	"etcd": func(ts *testscript.TestScript, neg bool, args []string) {
		srv := ts.Value(serverKey{}).(*embedded.Server)
		ctx := context.Background()
		if len(args) == 0 {
			ts.Fatalf("usage: etcd put|del|load|compact|stop ...")
		}
		var err error
		switch {
		case args[0] == "put" && len(args) == 3:
			_, err = srv.Put(ctx, args[1], args[2])
		case args[0] == "del" && len(args) >= 2:
			_, err = srv.Delete(ctx, args[1], len(args) == 3 && args[2] == "-r")
		case args[0] == "load" && len(args) == 2:
			var data map[string]string
			raw, rerr := os.ReadFile(ts.MkAbs(args[1]))
			ts.Check(rerr)
			ts.Check(json.Unmarshal(raw, &data))
			_, err = srv.Load(ctx, data)
		case args[0] == "compact" && len(args) == 1:
			var rev int64
			rev, err = srv.Revision(ctx)
			if err == nil {
				err = srv.Compact(ctx, rev)
			}
		case args[0] == "stop" && len(args) == 1:
			srv.Close()
		default:
			ts.Fatalf("usage: etcd put KEY VALUE | del KEY [-r] | load FILE | compact | stop")
		}
		if (err != nil) != neg {
			ts.Fatalf("etcd %s: %v", args[0], err)
		}
	},
	// fixture NAME DIR: copy testfixtures/NAME to DIR, pointing the
	// targets (and commands) under /tmp/ at $WORK/out/ instead.
	"fixture": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: fixture NAME DIR")
		}
		src := filepath.Join(ts.Getenv("FIXTURES"), args[0])
		out := ts.MkAbs("out") + "/"
		ts.Check(os.MkdirAll(out, 0o755))
		err := testfixtures.CopyConfig(src, ts.MkAbs(args[1]), "/tmp/", out)
		ts.Check(err)
	},
	// work DIR: replace "$WORK" with the script's work directory in every
	// file under DIR (txtar files are not expanded).
	"work": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: work DIR")
		}
		work := ts.Getenv("WORK")
		// The suite's own user, whoever runs it (root in CI, anyone else
		// on a laptop).
		ids := strings.NewReplacer("$UID", strconv.Itoa(os.Geteuid()), "$GID", strconv.Itoa(os.Getegid()))
		ts.Check(filepath.WalkDir(ts.MkAbs(args[0]), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, []byte(ids.Replace(strings.ReplaceAll(string(data), "$WORK", work))), 0o644)
		}))
	},
	// lock STATEFILE: hold the state lock from the test process until
	// `unlock`, as another reconfig would.
	"lock": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: lock STATEFILE")
		}
		l, err := state.Acquire(context.Background(), ts.MkAbs(args[0]), "test-holder", 0)
		ts.Check(err)
		ts.Defer(func() { l.Release() })
		locks[ts] = l
	},
	"unlock": func(ts *testscript.TestScript, neg bool, args []string) {
		ts.Check(locks[ts].Release())
		delete(locks, ts)
	},
	// lineage STATEFILE: print the state's lineage.
	"lineage": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: lineage STATEFILE")
		}
		st, err := state.Load(ts.MkAbs(args[0]))
		ts.Check(err)
		fmt.Fprintln(ts.Stdout(), st.Lineage)
	},
	// waitfile FILE REGEXP: wait (up to 30s) until FILE exists and matches
	// REGEXP — for a daemon running in the background.
	"waitfile": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: waitfile FILE REGEXP")
		}
		re, err := regexp.Compile("(?m)" + args[1])
		ts.Check(err)
		path := ts.MkAbs(args[0])
		deadline := time.Now().Add(30 * time.Second)
		for {
			data, err := os.ReadFile(path)
			if err == nil && re.Match(data) {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("%s does not match %q after 30s (content %q, %v)", args[0], args[1], data, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	},
	// httpget URL: print the body of a GET and fail unless the status is
	// 200 (with !, unless it is not).
	"httpget": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: httpget URL")
		}
		resp, err := http.Get(args[0])
		ts.Check(err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		ts.Stdout().Write(body)
		if (resp.StatusCode == http.StatusOK) == neg {
			ts.Fatalf("GET %s: %s", args[0], resp.Status)
		}
	},
	// waithttp URL REGEXP: wait (up to 30s) until a GET of URL answers a
	// body matching REGEXP — for a daemon's metrics, updated at the end of
	// a cycle that already renamed its files.
	"waithttp": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: waithttp URL REGEXP")
		}
		re, err := regexp.Compile("(?m)" + args[1])
		ts.Check(err)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var body []byte
			resp, err := http.Get(args[0])
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if re.Match(body) {
					return
				}
			}
			if time.Now().After(deadline) {
				ts.Fatalf("GET %s does not match %q after 30s (%v):\n%s", args[0], args[1], err, body)
			}
			time.Sleep(10 * time.Millisecond)
		}
	},
	// signal SIG WORD: send SIGHUP/SIGTERM/... to the children of the test
	// process (background reconfig commands) whose command line holds WORD
	// (testscript's kill knows only INT and KILL).
	"signal": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: signal HUP|TERM|INT WORD")
		}
		sig := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT}[args[0]]
		if sig == 0 {
			ts.Fatalf("unknown signal %s", args[0])
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/stat")
		sent := 0
		for _, st := range procs {
			data, err := os.ReadFile(st)
			if err != nil {
				continue
			}
			fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
			if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
				continue
			}
			dir := filepath.Dir(st)
			cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
			if !strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), args[1]) {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(dir))
			ts.Check(syscall.Kill(pid, sig))
			sent++
		}
		if sent == 0 {
			ts.Fatalf("no child process with %q in its command line", args[1])
		}
	},
	// hardlink OLD NEW: make NEW another hard link to OLD (testscript
	// has no ln).
	"hardlink": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: hardlink OLD NEW")
		}
		ts.Check(os.Link(ts.MkAbs(args[0]), ts.MkAbs(args[1])))
	},
	// mkfifo FILE: make a named pipe (no writer ever opens it).
	"mkfifo": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: mkfifo FILE")
		}
		ts.Check(syscall.Mkfifo(ts.MkAbs(args[0]), 0o644))
	},
	// mode PERM FILE: FILE has permission bits PERM (octal).
	"mode": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: mode PERM FILE")
		}
		info, err := os.Stat(ts.MkAbs(args[1]))
		ts.Check(err)
		got := fmt.Sprintf("%04o", info.Mode().Perm())
		if (got == args[0]) == neg {
			ts.Fatalf("%s has mode %s, want %s", args[1], got, args[0])
		}
	},
}

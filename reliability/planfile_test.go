package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// Saved plans can do no more than the bindings: a plan file edited to
// write a file no binding names, with other modes, owners or commands, or
// to delete a file the state does not record as orphaned, is refused with
// a message naming the change, and nothing is written, run or deleted.
func TestEditedPlanFileRefused(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := client(t, srv.ClientURL)
	etcdtest.PutEventually(t, c, "/app/a", "1")
	f := appFixture(t, srv.ClientURL)
	f.mustApply()
	etcdtest.PutEventually(t, c, "/app/a", "2")
	plan := filepath.Join(t.TempDir(), "review.plan")
	if r := f.run("plan", "--out", plan); r.code != 0 {
		t.Fatal(r)
	}
	honest, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	victim := f.write(f.marks+"/victim", "precious\n")
	// Named like a file apply staged for victim: apply sweeps those
	// beside every target of a plan.
	lookalike := f.write(f.marks+"/.reconfig-0123456789ab.victim", "precious too\n")
	pwned := f.marks + "/pwned"
	elsewhere := f.marks + "/setuid-shell"

	for _, tc := range []struct {
		name string
		edit func(ch map[string]any, p map[string]any)
		want string
	}{
		{"a target no binding writes", func(ch, _ map[string]any) {
			ch["target"] = elsewhere
			ch["before_sha256"] = ""
			delete(ch, "before")
		},
			`binding "app" writes ` + f.target("app.conf") + `, not this file`},
		{"a setuid mode", func(ch, _ map[string]any) { ch["mode"] = "04755" }, "mode 04755 is not 0644"},
		{"another owner", func(ch, _ map[string]any) { ch["uid"] = 65534 }, "owner 65534:"},
		{"a check command", func(ch, _ map[string]any) { ch["checkcmd"] = "touch " + pwned }, `its checkcmd "touch ` + pwned},
		{"a reload command", func(ch, _ map[string]any) { ch["reloadcmd"] = "touch " + pwned }, `its reloadcmd "touch ` + pwned},
		{"an unknown binding", func(ch, _ map[string]any) { ch["id"] = "nobody" }, "no binding has this id"},
		{"a delete of a file that is no orphan", func(_, p map[string]any) {
			p["changes"] = append(p["changes"].([]any), map[string]any{"id": "gone", "target": victim, "action": "delete",
				"before_sha256": hash([]byte("precious\n")), "uid": -1, "gid": -1})
		}, "deletes a file the state does not record as orphaned"},
		{"a state record injected as a no-op", func(_, p map[string]any) {
			p["changes"] = append(p["changes"].([]any), map[string]any{"id": "nobody", "target": victim, "action": "no-op",
				"before_sha256": hash([]byte("precious\n")), "uid": -1, "gid": -1})
		}, "no binding has this id"},
		{"a skip of no binding, naming another file", func(_, p map[string]any) {
			p["changes"] = append(p["changes"].([]any), map[string]any{"id": "nobody", "target": victim, "action": "skip",
				"reason": "no keys", "before_sha256": "", "uid": -1, "gid": -1})
		}, "no binding has this id"},
		{"a failure of the binding, naming another file", func(_, p map[string]any) {
			p["changes"] = append(p["changes"].([]any), map[string]any{"id": "app", "target": victim, "action": "fail",
				"reason": "broken", "before_sha256": "", "uid": -1, "gid": -1})
		}, `binding "app" writes ` + f.target("app.conf") + `, not this file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p map[string]any
			if err := json.Unmarshal(honest, &p); err != nil {
				t.Fatal(err)
			}
			ch := p["changes"].([]any)[0].(map[string]any)
			tc.edit(ch, p)
			data, _ := json.MarshalIndent(p, "", "  ")
			edited := filepath.Join(t.TempDir(), "edited.plan")
			if err := os.WriteFile(edited, data, 0o600); err != nil {
				t.Fatal(err)
			}
			stateBefore := readFile(t, f.statePath())
			r := f.run("apply", edited)
			if r.code != 1 || !strings.Contains(r.stderr, "reconfig: error: plan file "+edited+" is refused: ") ||
				!strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "hint: a saved plan can do no more than the current bindings say") {
				t.Fatalf("want exit 1 refusing the plan with %q:\n%s", tc.want, r)
			}
			for _, p := range []string{pwned, elsewhere} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("%s exists: the edited plan did something", p)
				}
			}
			if got := readFile(t, victim); got != "precious\n" {
				t.Fatalf("the victim file was changed: %q", got)
			}
			if _, err := os.Stat(lookalike); err != nil {
				t.Fatalf("the file named like a staged one: %v", err)
			}
			if got := readFile(t, f.target("app.conf")); got != "a=1\n" {
				t.Fatalf("the target was written: %q", got)
			}
			if readFile(t, f.statePath()) != stateBefore {
				t.Fatal("the state was written")
			}
		})
	}
	// The honest plan still applies.
	if r := f.run("apply", plan); r.code != 0 || readFile(t, f.target("app.conf")) != "a=2\n" {
		t.Fatalf("the honest plan: %s", r)
	}
}

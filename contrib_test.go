package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/testfixtures"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// The dashboard in contrib/ queries only metrics a running daemon exports,
// with labels they carry, and shows every reconfig_ metric the daemon
// exports. The daemon runs against a real etcd with a binding that writes,
// one whose check fails and one whose key is missing, so that the metrics
// with labels (which appear with their first count) are there.
func TestGrafanaDashboardMetrics(t *testing.T) {
	queries := dashboardQueries(t, "contrib/grafana-dashboard.json")
	if len(queries) == 0 {
		t.Fatal("the dashboard has no queries")
	}

	srv := etcdtest.Start(t)
	if _, err := srv.Load(context.Background(), map[string]string{"/app/a": "1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	files := map[string]string{
		"conf.d/app":        `{"id": "app", "key": "/app", "recursive": true, "source": "kv.tmpl", "target": "` + out + `/app.conf"}`,
		"conf.d/refused":    `{"id": "refused", "key": "/app", "recursive": true, "source": "kv.tmpl", "target": "` + out + `/refused.conf", "checkcmd": "echo refused; exit 1"}`,
		"conf.d/absent":     `{"id": "absent", "key": "/absent", "source": "kv.tmpl", "target": "` + out + `/absent.conf"}`,
		"templates/kv.tmpl": "{{range $k, $v := .Data}}{{$k}}={{$v}}\n{{end}}",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}

	bin, err := exec.LookPath("reconfig")
	if err != nil {
		t.Fatalf("the test binary is not installed as reconfig: %v", err)
	}
	addr := etcdtest.FreeAddr()
	cmd := exec.Command(bin, "watch", "--metrics-addr", addr, "--fleet", "--name", "dashboard")
	cmd.Env = append(os.Environ(), "RECONFIG_CFGDIR="+dir, "RECONFIG_ENDPOINTS="+srv.ClientURL,
		"RECONFIG_TEST_STATUS_FILE=", "NO_COLOR=1")
	log := &testfixtures.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("reconfig watch exited with %v after SIGTERM, want 0", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("reconfig watch did not stop within 30s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("reconfig watch:\n%s", log.String())
		}
	})

	// No event says the first cycle's metrics are in: poll the endpoint.
	want := []string{
		`reconfig_target_writes_total{action="create"}`,
		`reconfig_binding_failures_total{stage="check"}`,
		`reconfig_bindings_skipped_total{reason="missing_key"}`,
	}
	var exported map[string]*family
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("reconfig watch exited (%v):\n%s", err, log.String())
		default:
		}
		text := scrape(t, "http://"+addr+"/metrics")
		missing := slices.DeleteFunc(slices.Clone(want), func(s string) bool { return strings.Contains(text, "\n"+s+" ") })
		if len(missing) == 0 && !strings.Contains(text, "\nreconfig_fleet_status_writes_total 0\n") {
			exported = parseExposition(text)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %v within 60s in the daemon's metrics:\n%s", missing, text)
		}
		time.Sleep(50 * time.Millisecond)
	}

	used := map[string]bool{}
	for _, q := range queries {
		metrics, labels := promqlNames(q.expr)
		if len(metrics) == 0 {
			t.Errorf("%s: %q names no metric", q.where, q.expr)
		}
		// Prometheus adds instance and job to every series it scrapes.
		carried := map[string]bool{"instance": true, "job": true}
		for _, m := range metrics {
			used[m] = true
			f := exported[m]
			if f == nil {
				t.Errorf("%s: %q queries %s, which the daemon does not export", q.where, q.expr, m)
				continue
			}
			for l := range f.labels {
				carried[l] = true
			}
		}
		for _, l := range labels {
			if !carried[l] {
				t.Errorf("%s: %q uses the label %q, which none of %v carries", q.where, q.expr, l, metrics)
			}
		}
	}
	shown := map[string]bool{}
	for m := range used {
		if f := exported[m]; f != nil {
			shown[f.family] = true
		}
	}
	for _, f := range exported {
		if strings.HasPrefix(f.family, "reconfig_") && !shown[f.family] {
			shown[f.family] = true // said once
			t.Errorf("the dashboard shows no %s", f.family)
		}
	}
}

// A dashboard query and where it is.
type dashboardQuery struct{ where, expr string }

// dashboardQueries reads every panel's (and every nested panel's) query
// and every query variable of a Grafana dashboard.
func dashboardQueries(t *testing.T, path string) []dashboardQuery {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var qs []dashboardQuery
	ids := map[int]string{}
	var walk func(raw []json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: a panel: %v", path, err)
			}
			if other, dup := ids[p.ID]; dup {
				t.Errorf("%s: panels %q and %q share the id %d", path, other, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", path, p.Title)
			}
			for _, tg := range p.Targets {
				qs = append(qs, dashboardQuery{where: "panel " + p.Title + " " + tg.RefID, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q.Query); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("%s: variable %s: %v", path, v.Name, err)
			}
		}
		// label_values(EXPR, LABEL): EXPR is a query, LABEL one of its labels.
		m := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]\w*)\)$`).FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("%s: variable %s: %q is no label_values(EXPR, LABEL)", path, v.Name, q.Query)
		}
		qs = append(qs, dashboardQuery{where: "variable " + v.Name, expr: m[1] + " by (" + m[2] + ")"})
	}
	return qs
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// promqlNames returns the metric names a PromQL expression selects and the
// label names it matches on or groups by. It knows PromQL's shape, not its
// grammar: an identifier is a metric unless a function call, a keyword, a
// label in braces or a grouping, or a Grafana variable.
func promqlNames(expr string) (metrics, labels []string) {
	e := promString.ReplaceAllString(expr, `""`)
	for _, m := range promMatchers.FindAllString(e, -1) {
		for _, l := range promMatcher.FindAllStringSubmatch(m, -1) {
			labels = append(labels, l[1])
		}
	}
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRange.ReplaceAllString(e, " ")
	for _, g := range promGrouping.FindAllStringSubmatch(e, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	e = promGrouping.ReplaceAllString(e, " ")
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsRune("$0123456789.", rune(e[loc[0]-1])) {
			continue // a Grafana variable, or a number's exponent or unit
		}
		if strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") || promKeywords[strings.ToLower(name)] {
			continue
		}
		metrics = append(metrics, name)
	}
	return metrics, labels
}

// family is what a scrape says of one sample name: its family (the name
// of a histogram's _bucket, _sum and _count samples is the histogram's)
// and the labels its samples carry.
type family struct {
	family string
	labels map[string]bool
}

// parseExposition reads Prometheus's text format.
func parseExposition(text string) map[string]*family {
	types := map[string]string{}
	samples := map[string]*family{}
	s := bufio.NewScanner(strings.NewReader(text))
	for s.Scan() {
		line := s.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			types[name] = typ
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		name := line[:end]
		f := samples[name]
		if f == nil {
			f = &family{family: name, labels: map[string]bool{}}
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && (types[base] == "histogram" || types[base] == "summary") {
					f.family = base
				}
			}
			samples[name] = f
		}
		if line[end] == '{' {
			for _, l := range promMatcher.FindAllStringSubmatch(line[end:strings.LastIndexByte(line, '}')], -1) {
				f.labels[l[1]] = true
			}
		}
	}
	return samples
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return "" // not listening yet
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return "\n" + string(body)
}

// Every RECONFIG_* variable that contrib/reconfig.default and the unit set
// is one reconfig reads: a misspelt one would be ignored without a word.
func TestContribEnvironmentNames(t *testing.T) {
	read := map[string]bool{"RECONFIG_PASSWORD": true} // read by name, not through a flag
	for _, args := range [][]string{{"reconfig", "--help"}, {"reconfig", "watch", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := command.Run(context.Background(), args, command.IO{Stdout: &stdout, Stderr: &stderr}); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr.String())
		}
		for _, v := range regexp.MustCompile(`\$(RECONFIG_[A-Z_]+)`).FindAllStringSubmatch(stdout.String(), -1) {
			read[v[1]] = true
		}
	}
	if !read["RECONFIG_WAIT"] || !read["RECONFIG_ENDPOINTS"] {
		t.Fatalf("the help names no RECONFIG_WAIT or RECONFIG_ENDPOINTS; it reads: %v", slices.Sorted(maps.Keys(read)))
	}
	for _, path := range []string{"contrib/reconfig.default", "contrib/reconfig.service"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		set := regexp.MustCompile(`(?m)^(?:#|Environment=)(RECONFIG_[A-Z_]+)=`).FindAllStringSubmatch(string(data), -1)
		if len(set) == 0 {
			t.Errorf("%s sets no RECONFIG_* variable", path)
		}
		for _, v := range set {
			if !read[v[1]] {
				t.Errorf("%s sets %s, which reconfig does not read", path, v[1])
			}
		}
	}
}

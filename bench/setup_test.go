package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconfig/reconfig/bindings"
	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/internal/render"
	"github.com/reconfig/reconfig/plan"
	"github.com/reconfig/reconfig/state"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// scale is a configuration of n bindings, each reading a prefix of keys
// keys with values of about 100 bytes, loaded in a real etcd.
type scale struct {
	srv   *embedded.Server
	cfg   string // cfgdir
	out   string // targets
	n     int
	keys  int
	set   *bindings.Set
	tmpls map[string]*render.Template
}

const template = "backend {{.ID}}\n{{range $k, $v := .Data}}    server {{base $k}} {{$v}}\n{{end}}"

func value(i, k int) string {
	return fmt.Sprintf("10.%d.%d.%d:8080 weight=%d %s", i/256, i%256, k, k, strings.Repeat("v", 70))
}

func key(i, k int) string { return fmt.Sprintf("/svc/%05d/host-%03d", i, k) }

func newScale(b testing.TB, n, keys int) *scale {
	b.Helper()
	ctx := context.Background()
	s := &scale{srv: etcdtest.Start(b), cfg: b.TempDir(), out: b.TempDir(), n: n, keys: keys}
	data := make(map[string]string, n*keys)
	for i := range n {
		for k := range keys {
			data[key(i, k)] = value(i, k)
		}
	}
	if _, err := s.srv.Load(ctx, data); err != nil {
		b.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.cfg, "conf.d"), 0o755)
	os.MkdirAll(filepath.Join(s.cfg, "templates"), 0o755)
	os.WriteFile(filepath.Join(s.cfg, "templates", "t.tmpl"), []byte(template), 0o644)
	for i := range n {
		os.WriteFile(filepath.Join(s.cfg, "conf.d", fmt.Sprintf("b%05d.json", i)), fmt.Appendf(nil,
			`{"key": "/svc/%05d", "recursive": true, "source": "t.tmpl", "target": "%s/b%05d.conf"}`, i, s.out, i), 0o644)
	}
	set, err := bindings.Load(s.cfg)
	if err != nil {
		b.Fatal(err)
	}
	s.set, s.tmpls = set, map[string]*render.Template{}
	for _, bd := range set.Bindings {
		if s.tmpls[bd.ID], err = render.Compile(bd); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// plan takes a snapshot and plans every binding, as `reconfig plan` does.
func (s *scale) plan(b testing.TB, cli *etcd.Client, st *state.State) (*plan.Plan, etcd.ReadStats) {
	snap, stats, err := cli.Snapshot(context.Background(), s.set.Selectors())
	if err != nil {
		b.Fatal(err)
	}
	return plan.Make(plan.Input{Set: s.set, Templates: s.tmpls, Snapshot: snap, State: st}), stats
}

func (s *scale) client(b testing.TB) *etcd.Client {
	b.Helper()
	cli, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: []string{s.srv.ClientURL}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	return cli
}

// reset removes the targets and the state, so the next apply creates all.
func (s *scale) reset(b testing.TB) {
	b.Helper()
	if err := os.RemoveAll(s.out); err != nil {
		b.Fatal(err)
	}
	os.MkdirAll(s.out, 0o755)
	os.Remove(filepath.Join(s.cfg, "state.json"))
}

// reconfig is a command running the test binary as reconfig (or the
// binary RECONFIG_BENCH_BINARY names) against the scale's etcd and cfgdir.
func (s *scale) reconfig(args ...string) *exec.Cmd {
	bin := os.Args[0]
	if b := os.Getenv(benchBinary); b != "" {
		bin = b
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), asReconfig+"=1", "RECONFIG_ENDPOINTS="+s.srv.ClientURL, "RECONFIG_CFGDIR="+s.cfg, "NO_COLOR=1")
	return cmd
}

// Package devkit is what `reconfig dev` needs beyond the daemon: the
// embedded etcd server (internal/embedded) and the demo's data and bindings
// (testfixtures). Only the reconfig-dev binary (cmd/reconfig-dev) and tests
// import it, so that reconfig itself links no etcd server: reconfig runs
// reconfig-dev for `dev`.
package devkit

import (
	"context"

	"go.uber.org/zap"

	"github.com/reconfig/reconfig/internal/command"
	"github.com/reconfig/reconfig/internal/embedded"
	"github.com/reconfig/reconfig/testfixtures"
)

// Kit starts embedded etcd servers and writes the demo.
type Kit struct{}

var _ command.DevKit = Kit{}

// StartEtcd starts a member with fast raft ticks and no fsync: dev's data
// is thrown away (or kept only for the next dev).
func (Kit) StartEtcd(o command.DevEtcdOptions) (command.DevEtcd, error) {
	opts := embedded.Options{Dir: o.Dir, ClientURL: o.ClientURL, Fast: true}
	if o.Debug {
		lg, err := zap.NewDevelopment()
		if err != nil {
			return nil, err
		}
		opts.Logger = lg
	}
	srv, err := embedded.Start(opts)
	if err != nil {
		return nil, err
	}
	return server{srv}, nil
}

// DemoData is testfixtures/demo/data.json, built in.
func (Kit) DemoData() ([]byte, error) { return testfixtures.Demo.ReadFile("demo/data.json") }

// WriteDemo writes testfixtures/demo/cfg, built in.
func (Kit) WriteDemo(cfgDir, out string) error { return testfixtures.WriteDemo(cfgDir, out) }

// server is a running embedded member as dev sees it.
type server struct{ srv *embedded.Server }

var _ command.DevEtcd = server{}

func (s server) ClientURL() string { return s.srv.ClientURL }

func (s server) Load(ctx context.Context, data map[string]string) error {
	_, err := s.srv.Load(ctx, data)
	return err
}

func (s server) Close() { s.srv.Close() }

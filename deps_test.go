package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDaemonLinksNoEtcdServer: reconfig, the daemon every host runs, links
// neither the etcd server nor the test fixtures — `reconfig dev` runs
// reconfig-dev for those — while reconfig-dev does link the server.
func TestDaemonLinksNoEtcdServer(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the packages: %v", err)
	}
	for _, tc := range []struct {
		pkg         string
		wantServer  bool
		forbidPaths []string
	}{
		{pkg: ".", wantServer: false, forbidPaths: []string{
			"go.etcd.io/etcd/server/", "github.com/reconfig/reconfig/internal/embedded",
			"github.com/reconfig/reconfig/internal/devkit", "github.com/reconfig/reconfig/testfixtures"}},
		{pkg: "./cmd/reconfig-dev", wantServer: true},
	} {
		out, err := exec.Command(goBin, "list", "-deps", tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tc.pkg, err)
		}
		server := false
		for _, p := range strings.Fields(string(out)) {
			server = server || strings.HasPrefix(p, "go.etcd.io/etcd/server/")
			for _, f := range tc.forbidPaths {
				if strings.HasPrefix(p, f) {
					t.Errorf("%s links %s", tc.pkg, p)
				}
			}
		}
		if server != tc.wantServer {
			t.Errorf("%s links the etcd server: %v, want %v", tc.pkg, server, tc.wantServer)
		}
	}
}

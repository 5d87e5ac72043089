package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reconfig/reconfig/internal/etcd"
	"github.com/reconfig/reconfig/testfixtures/etcdtest"
)

// `reconfig watch` as a user whose role has etcd's usual grant, `read
// --prefix /app/`, for a recursive binding of /app: every change converges
// at once (not at the resync), /healthz says ok, and the daemon never
// logs a refused watch — the daemon needs exactly the permissions plan
// needs.
func TestWatchUnderLimitedRole(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	if _, err := srv.Load(context.Background(), map[string]string{"/app/a": "1"}); err != nil {
		t.Fatal(err)
	}
	etcdtest.EnableAuth(t, srv, "rootpw", etcdtest.User{Name: "reader", Password: "readpw", ReadPrefix: "/app/"})
	root, err := etcd.Connect(context.Background(), etcd.Config{Endpoints: []string{srv.ClientURL}, Username: "root", Password: "rootpw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	f := appFixture(t, srv.ClientURL)
	f.extraEnv = append(f.extraEnv, "RECONFIG_USER=reader", "RECONFIG_PASSWORD=readpw")
	metrics := etcdtest.FreeAddr()
	d := f.startWatch("--metrics-addr", metrics)
	awaitContent(t, f.target("app.conf"), "a=1\n", 20*time.Second)
	for i := 2; i <= 5; i++ {
		etcdtest.PutEventually(t, root, "/app/a", fmt.Sprint(i))
		awaitContent(t, f.target("app.conf"), fmt.Sprintf("a=%d\n", i), 20*time.Second)
	}
	etcdtest.PutEventually(t, root, "/app", "the own key, which the role may not read")
	etcdtest.PutEventually(t, root, "/app/b", "x")
	awaitContent(t, f.target("app.conf"), "a=5\nb=x\n", 20*time.Second)
	eventually(t, 20*time.Second, "/healthz to say ok", func() bool {
		resp, err := http.Get("http://" + metrics + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok"
	})
	for _, bad := range []string{"watch interrupted", "cannot watch", "permission denied", "rpc error"} {
		if strings.Contains(d.log.String(), bad) {
			t.Fatalf("the daemon logged %q under the role's grant:\n%s", bad, d.log.String())
		}
	}
	d.alive()
}

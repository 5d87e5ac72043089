package etcdtest

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/reconfig/reconfig/internal/embedded"
)

// User is an etcd user to create; ReadPrefix, when set, is the only key
// prefix its role may read.
type User struct {
	Name, Password string
	ReadPrefix     string
}

// EnableAuth creates root (password rootPassword) and the users, then
// turns authentication on. Put test data in before: afterwards the
// server's direct API needs credentials too.
func EnableAuth(t TB, s *embedded.Server, rootPassword string, users ...User) {
	t.Helper()
	ctx := context.Background()
	es := s.Etcd.Server
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("set up etcd auth: %v", err)
		}
	}
	must(es.UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: rootPassword}))
	must(es.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "root"}))
	must(es.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}))
	for _, u := range users {
		must(es.UserAdd(ctx, &pb.AuthUserAddRequest{Name: u.Name, Password: u.Password}))
		if u.ReadPrefix != "" {
			role := u.Name + "-read"
			must(es.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: role}))
			must(es.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: role, Perm: &authpb.Permission{
				PermType: authpb.Permission_READ, Key: []byte(u.ReadPrefix), RangeEnd: embedded.PrefixEnd([]byte(u.ReadPrefix)),
			}}))
			must(es.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: u.Name, Role: role}))
		}
	}
	must(es.AuthEnable(ctx, &pb.AuthEnableRequest{}))
}

// EnableAuthAt does what EnableAuth does, for an etcd reached at endpoint
// (a binary, see StartBinary).
func EnableAuthAt(t TB, endpoint, rootPassword string, users ...User) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("set up etcd auth: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("set up etcd auth: %v", err)
		}
	}
	must(cli.UserAdd(ctx, "root", rootPassword))
	must(cli.RoleAdd(ctx, "root"))
	must(cli.UserGrantRole(ctx, "root", "root"))
	for _, u := range users {
		must(cli.UserAdd(ctx, u.Name, u.Password))
		if u.ReadPrefix != "" {
			role := u.Name + "-read"
			must(cli.RoleAdd(ctx, role))
			must(cli.RoleGrantPermission(ctx, role, u.ReadPrefix, clientv3.GetPrefixRangeEnd(u.ReadPrefix), clientv3.PermissionType(clientv3.PermRead)))
			must(cli.UserGrantRole(ctx, u.Name, role))
		}
	}
	must(cli.AuthEnable(ctx))
}

// GrantRead lets user's role ("NAME-read", made by EnableAuth) read every
// key under prefix too, as root (rootPassword) would with etcdctl.
func GrantRead(t TB, s *embedded.Server, rootPassword, user, prefix string) {
	t.Helper()
	cli := RootClient(t, s, rootPassword)
	if _, err := cli.RoleGrantPermission(context.Background(), user+"-read", prefix, clientv3.GetPrefixRangeEnd(prefix),
		clientv3.PermissionType(clientv3.PermRead)); err != nil {
		t.Fatalf("grant %s read %s: %v", user, prefix, err)
	}
}

// RevokeRead takes GrantRead's permission back.
func RevokeRead(t TB, s *embedded.Server, rootPassword, user, prefix string) {
	t.Helper()
	cli := RootClient(t, s, rootPassword)
	if _, err := cli.RoleRevokePermission(context.Background(), user+"-read", prefix, clientv3.GetPrefixRangeEnd(prefix)); err != nil {
		t.Fatalf("revoke %s read %s: %v", user, prefix, err)
	}
}

// ChangePassword sets user's password, as root (rootPassword) would with
// etcdctl; etcd drops the user's tokens at once.
func ChangePassword(t TB, s *embedded.Server, rootPassword, user, password string) {
	t.Helper()
	cli := RootClient(t, s, rootPassword)
	if _, err := cli.UserChangePassword(context.Background(), user, password); err != nil {
		t.Fatalf("change the password of %s: %v", user, err)
	}
}

// RootClient is an etcd client as root (rootPassword), for what a test
// does as an administrator would with etcdctl (roles, permissions); it is
// closed when the test ends.
func RootClient(t TB, s *embedded.Server, rootPassword string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.ClientURL}, Username: "root", Password: rootPassword,
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("connect as root: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

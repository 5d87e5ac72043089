package etcd

import (
	"context"
	"errors"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// authenticateMethod is the RPC that trades a user and password for a
// token.
const authenticateMethod = "/etcdserverpb.Auth/Authenticate"

// tokenAuth holds the auth token of reconfig's etcd user, attaches it to
// every request, and gets a new one when etcd rejects it: once it expired
// (simple tokens die after --auth-token-ttl without use, 300s by default;
// a daemon idles longer than that) or predates a change of users or roles.
//
// It stands in for the etcd client's own token handling, which sends the
// rejected token along with the request for a new one. etcd before 3.5
// checks that token even there and refuses it too, and the client's retry
// interceptor answers that refusal by asking for a token again, and again,
// until the deadline of the request that needed it: a read after an idle
// period hung for the whole --command-timeout, and a new watch stream, which
// has no deadline, for ever.
type tokenAuth struct {
	user, password string
	token          atomic.Pointer[string]
	// refreshing is full while an Authenticate is under way: one at a
	// time, and a request waits for it only until its own deadline.
	refreshing chan struct{}
}

func newTokenAuth(user, password string) *tokenAuth {
	return &tokenAuth{user: user, password: password, refreshing: make(chan struct{}, 1)}
}

var _ credentials.PerRPCCredentials = (*tokenAuth)(nil)

// GetRequestMetadata attaches the token to every request but Authenticate.
func (a *tokenAuth) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if ri, ok := credentials.RequestInfoFromContext(ctx); ok && ri.Method == authenticateMethod {
		return nil, nil
	}
	if t := a.current(); t != "" {
		return map[string]string{rpctypes.TokenFieldNameGRPC: t}, nil
	}
	return nil, nil
}

// RequireTransportSecurity is false: etcd takes passwords over plain
// http too, as the etcd client does.
func (a *tokenAuth) RequireTransportSecurity() bool { return false }

func (a *tokenAuth) current() string {
	if t := a.token.Load(); t != nil {
		return *t
	}
	return ""
}

// dialOptions install the token and the interceptors that renew it.
func (a *tokenAuth) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithPerRPCCredentials(a),
		grpc.WithChainUnaryInterceptor(a.unary),
		grpc.WithChainStreamInterceptor(a.stream),
	}
}

// refresh authenticates and keeps the new token, unless another request
// already replaced stale meanwhile. Errors are gRPC statuses, as the
// interceptors around it expect.
func (a *tokenAuth) refresh(ctx context.Context, cc grpc.ClientConnInterface, stale string) error {
	select {
	case a.refreshing <- struct{}{}:
		defer func() { <-a.refreshing }()
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	if a.current() != stale {
		return nil
	}
	resp, err := pb.NewAuthClient(cc).Authenticate(ctx, &pb.AuthenticateRequest{Name: a.user, Password: a.password},
		grpc.WaitForReady(true))
	token := ""
	switch {
	case errors.Is(rpctypes.Error(err), rpctypes.ErrAuthNotEnabled):
	case err != nil:
		return err
	default:
		token = resp.Token
	}
	a.token.Store(&token)
	return nil
}

// unary sends a request once more, at once, with a new token when etcd
// rejected its token. It runs inside the etcd client's retry interceptor,
// for each of its attempts: a new token etcd refuses too goes back to
// that interceptor, which tries again after its backoff, within the
// request's deadline, as it did with tokens of its own.
func (a *tokenAuth) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	token := a.current()
	err := invoker(ctx, method, req, reply, cc, opts...)
	if method == authenticateMethod || !tokenRejected(err) {
		return err
	}
	if err := a.refresh(ctx, cc, token); err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// stream gets a new token for each new stream, as the etcd client does: a
// watch stream keeps the token it was opened with, and etcd checks it
// again for every watch created on it — also when the client resumes its
// watches on a new stream after losing the old one.
func (a *tokenAuth) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if err := a.refresh(ctx, cc, a.current()); err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// tokenRejected tells whether etcd refused a request for its token: expired
// or unknown, older than the auth store, or missing (auth was turned on
// after reconfig connected).
func tokenRejected(err error) bool {
	err = rpctypes.Error(err)
	return errors.Is(err, rpctypes.ErrInvalidAuthToken) || errors.Is(err, rpctypes.ErrAuthOldRevision) ||
		errors.Is(err, rpctypes.ErrUserEmpty)
}

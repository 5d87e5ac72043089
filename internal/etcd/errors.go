package etcd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reconfig/reconfig/internal/hint"
)

// Error is an etcd failure described for an operator. What to do about
// it depends on the failure: where one is known, the error is returned
// with a hint (hint.Wrap).
type Error struct {
	Msg string
	// Err is the underlying client error, kept for errors.Is.
	Err error
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// ErrCompacted is returned when a revision reconfig asked for was compacted.
var ErrCompacted = rpctypes.ErrCompacted

// ErrPermissionDenied is returned when the user's role may not read or
// watch a key range.
var ErrPermissionDenied = rpctypes.ErrPermissionDenied

// describe turns a client error into an *Error. what names the operation,
// like "read /app/" or "connect".
func (c *Client) describe(what string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	eps := strings.Join(c.cfg.Endpoints, ",")
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Msg: what + ": canceled", Err: err}
	case errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
		return hint.Wrap(&Error{Msg: fmt.Sprintf("%s: etcd at %s did not answer within %s", what, eps, c.cfg.CommandTimeout), Err: err},
			"check that etcd is healthy (reconfig kv status), or raise --command-timeout")
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return hint.Wrap(&Error{Msg: fmt.Sprintf("authentication failed for user %s", c.cfg.Username), Err: err},
			"check --user and the password (RECONFIG_PASSWORD)")
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return hint.Wrap(&Error{Msg: "etcd requires authentication", Err: err},
			"pass --user NAME and the password in RECONFIG_PASSWORD")
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return hint.Wrap(&Error{Msg: fmt.Sprintf("%s: permission denied for user %s", what, c.cfg.Username), Err: err},
			"grant the user's role read access to the key range (etcdctl role grant-permission)")
	case errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrAuthOldRevision):
		return hint.Wrap(&Error{Msg: what + ": etcd rejected the auth token", Err: err},
			"retry; if it persists, check the etcd auth configuration")
	case errors.Is(err, rpctypes.ErrCompacted):
		return &Error{Msg: what + ": the revision was compacted", Err: err}
	case errors.Is(err, rpctypes.ErrNoLeader):
		return hint.Wrap(&Error{Msg: what + ": the etcd cluster has no leader", Err: err},
			"check the etcd cluster's health (reconfig kv status)")
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return &Error{Msg: what + ": request too large for etcd", Err: err}
	case status.Code(err) == codes.Unavailable:
		return hint.Wrap(&Error{Msg: fmt.Sprintf("%s: etcd at %s is unavailable", what, eps), Err: err}, unreachableHint)
	}
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
		// What is not etcd's own error is the gRPC transport's, whose
		// text means nothing to an operator: something that is not etcd
		// answered, or the connection broke.
		if !strings.HasPrefix(msg, "etcdserver: ") {
			if s.Code() == codes.ResourceExhausted {
				return &Error{Msg: fmt.Sprintf("%s: etcd's answer is larger than reconfig accepts", what), Err: err}
			}
			if m := httpStatus.FindStringSubmatch(msg); m != nil {
				return hint.Wrap(&Error{Msg: fmt.Sprintf("%s: %s is not etcd: it answered HTTP %s", what, eps, m[1]), Err: err}, notEtcdHint)
			}
			return hint.Wrap(&Error{Msg: fmt.Sprintf("%s: etcd at %s failed to answer (%s)", what, eps, strings.ToLower(s.Code().String())), Err: err},
				"check that --endpoints names etcd's client URL and that etcd is healthy (reconfig kv status)")
		}
	}
	// The client turns known server errors into rpctypes errors, which
	// are not gRPC statuses but carry the same "etcdserver: " text.
	msg = strings.TrimPrefix(msg, "etcdserver: ")
	return &Error{Msg: fmt.Sprintf("%s: %s", what, msg), Err: err}
}

const unreachableHint = "check --endpoints and that etcd is running; `reconfig dev` starts a local one"

const notEtcdHint = "check --endpoints: it must name etcd's client URL (port 2379 unless etcd was told otherwise), not another service"

const plainHTTPHint = "etcd serves plain HTTP there: write the endpoint with http:// (or give etcd a certificate with its --cert-file and --key-file)"

// httpStatus finds the HTTP status in the gRPC transport's message for a
// server that answered a request with something else than gRPC.
var httpStatus = regexp.MustCompile(`unexpected HTTP status code received from server: (\d+ \([^)]*\))`)

const tlsHint = "check --cacert (the CA that signed etcd's certificate) and --cert/--key (a client certificate etcd trusts)"

// Why a probe failed.
type trouble int

const (
	troubleNone      trouble = iota
	troubleTLS               // the TLS handshake or connection failed
	troublePlainHTTP         // an https endpoint answers plain HTTP
	troubleNotEtcd           // something answers that is not etcd
)

// probe dials the endpoints' TCP addresses to tell why a connection failed:
// "connection refused" is more use to an operator than a timeout. With
// TLS settings, it also shakes hands with https endpoints, so that a
// certificate problem is named as one (troubleTLS) and not as an etcd
// that is down, and an etcd that speaks plain HTTP as that
// (troublePlainHTTP). Where a plain connection succeeds, it asks for
// etcd's /version, so that another service is named as not etcd.
func probe(endpoints []string, timeout time.Duration, tlsCfg *tls.Config) (why string, t trouble) {
	for _, ep := range endpoints {
		host, secure := ep, false
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			host, secure = u.Host, u.Scheme == "https"
		}
		conn, err := net.DialTimeout("tcp", host, timeout)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Err != nil {
				return strings.TrimPrefix(op.Err.Error(), "connect: "), troubleNone
			}
			return err.Error(), troubleNone
		}
		if secure && tlsCfg != nil {
			if why := probeTLS(conn, host, tlsCfg, timeout); why != "" {
				// A TLS server answers plain HTTP too, with a 400: only
				// etcd's own answer tells that etcd is there without TLS.
				if isEtcd, err := getVersion("http://"+host, timeout); err == nil && isEtcd {
					return "it speaks plain HTTP, not TLS", troublePlainHTTP
				}
				return why, troubleTLS
			}
			continue
		}
		conn.Close()
		if !secure {
			if isEtcd, err := getVersion(ep, timeout); err == nil && !isEtcd {
				return fmt.Sprintf("%s is not etcd: it does not answer etcd's /version", ep), troubleNotEtcd
			}
		}
	}
	return "", troubleNone
}

// getVersion asks base for etcd's /version over HTTP/1 and says whether
// etcd answered; an error when nothing answered HTTP.
func getVersion(base string, timeout time.Duration) (isEtcd bool, err error) {
	cl := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := cl.Get(strings.TrimSuffix(base, "/") + "/version")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var v struct {
		Server string `json:"etcdserver"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode == http.StatusOK && json.Unmarshal(body, &v) == nil && v.Server != "", nil
}

// allRefuse reports whether every endpoint refuses a TCP connection now.
func allRefuse(endpoints []string, timeout time.Duration) bool {
	for _, ep := range endpoints {
		host := ep
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			host = u.Host
		}
		conn, err := net.DialTimeout("tcp", host, min(timeout, time.Second))
		if err == nil {
			conn.Close()
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
	}
	return true
}

// probeTLS shakes hands on conn and says what went wrong, or "".
func probeTLS(conn net.Conn, host string, cfg *tls.Config, timeout time.Duration) string {
	defer conn.Close()
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(host)
	}
	tc := tls.Client(conn, cfg)
	tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		return "TLS handshake failed: " + err.Error()
	}
	// A TLS 1.3 server refuses a missing or unknown client certificate
	// only after the client finished its handshake: an alert, or the
	// server closing, is the answer to the first read.
	tc.SetReadDeadline(time.Now().Add(min(timeout, 500*time.Millisecond)))
	_, err := tc.Read(make([]byte, 1))
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return "the TLS connection was refused: " + err.Error()
	}
	return ""
}

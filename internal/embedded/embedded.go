// Package embedded runs an etcd member inside the reconfig process, on
// loopback: the server behind `reconfig dev`, the demo and the tests. It
// seeds and changes data through the server's own API, so nothing here
// needs an etcd client.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// Options configure a server.
type Options struct {
	// Dir is the data directory (required).
	Dir string
	// Name is the member name; default "reconfig".
	Name string
	// ClientURL and PeerURL are the listen addresses, like
	// "http://127.0.0.1:2379"; "" picks a free loopback port.
	ClientURL, PeerURL string
	// InitialCluster lists every member (name=peerURL,...) for a
	// multi-member cluster; "" makes a single-member cluster.
	InitialCluster string
	// Fast uses short raft ticks (10 ms heartbeat, 100 ms election), no
	// fsync and the cheapest password hashing (an authentication then
	// takes milliseconds, not a second under the race detector): for tests
	// and demos, never for data that matters.
	Fast bool
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger
	// ConfigHook may change the embed configuration before start (TLS,
	// auth settings).
	ConfigHook func(*embed.Config)
}

// Server is a running member.
type Server struct {
	Etcd      *embed.Etcd
	ClientURL string
	PeerURL   string
	Dir       string
}

// Start starts a member and waits until it serves.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("embedded etcd: no data directory")
	}
	if o.Name == "" {
		o.Name = "reconfig"
	}
	// Ports it picks itself may be taken by someone else between the pick
	// and etcd's bind: pick again then.
	picked := o.ClientURL == "" || o.PeerURL == ""
	for attempt := 1; ; attempt++ {
		srv, err := start(o)
		// etcd binds its listeners before it touches the data directory.
		if err != nil && picked && attempt < 5 && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")) {
			continue
		}
		return srv, err
	}
}

func start(o Options) (*Server, error) {
	var err error
	if o.ClientURL == "" {
		o.ClientURL = "http://" + FreeAddr()
	}
	if o.PeerURL == "" {
		o.PeerURL = "http://" + FreeAddr()
	}
	cfg := embed.NewConfig()
	cfg.Name = o.Name
	cfg.Dir = o.Dir
	cu, err := url.Parse(o.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("client URL %q: %w", o.ClientURL, err)
	}
	pu, err := url.Parse(o.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("peer URL %q: %w", o.PeerURL, err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = o.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = o.Name + "=" + o.PeerURL
	}
	if o.Fast {
		cfg.TickMs, cfg.ElectionMs = 10, 100
		cfg.UnsafeNoFsync = true
		cfg.BcryptCost = uint(bcrypt.MinCost)
	}
	lg := o.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	if _, err := os.Stat(filepath.Join(o.Dir, "member")); err == nil {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	if o.ConfigHook != nil {
		o.ConfigHook(cfg)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd: not ready after 60s")
	}
	return &Server{Etcd: e, ClientURL: o.ClientURL, PeerURL: o.PeerURL, Dir: o.Dir}, nil
}

// Close stops the member; it is safe to call more than once.
func (s *Server) Close() {
	if s.Etcd == nil {
		return
	}
	s.Etcd.Close()
	<-s.Etcd.Server.StopNotify()
	s.Etcd = nil
}

// FreeAddr returns a loopback host:port that was free a moment ago. It is
// below the kernel's ephemeral range (from 32768 by default), where ports
// are handed out for port 0 and for outgoing connections: a client dialing
// a free ephemeral port on loopback before its server starts can connect
// to itself (TCP simultaneous open), and the server then cannot bind it.
//
// A port is handed out once per process. Between the pick and the bind
// (a child etcd starting, a server deliberately down for a while) the port
// is free, and tests running in parallel would otherwise pick it again.
func FreeAddr() string {
	lo, hi := 10000, ephemeralStart()
	picked.Lock()
	defer picked.Unlock()
	if len(picked.ports) > (hi-lo)/2 {
		clear(picked.ports)
	}
	for {
		port := lo + rand.IntN(hi-lo)
		if picked.ports[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		picked.ports[port] = true
		return l.Addr().String()
	}
}

// picked holds the ports FreeAddr has handed out.
var picked = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}

// Put sets key to value and returns the new revision.
func (s *Server) Put(ctx context.Context, key, value string) (int64, error) {
	resp, err := s.Etcd.Server.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(value)})
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Delete removes key (and, when prefix, every key under it) and returns the
// new revision.
func (s *Server) Delete(ctx context.Context, key string, prefix bool) (int64, error) {
	req := &pb.DeleteRangeRequest{Key: []byte(key)}
	if prefix {
		req.RangeEnd = PrefixEnd([]byte(key))
	}
	resp, err := s.Etcd.Server.DeleteRange(ctx, req)
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Compact compacts the key-value history up to rev.
func (s *Server) Compact(ctx context.Context, rev int64) error {
	_, err := s.Etcd.Server.Compact(ctx, &pb.CompactionRequest{Revision: rev, Physical: true})
	return err
}

// Revision is the current revision of the store.
func (s *Server) Revision(ctx context.Context) (int64, error) {
	resp, err := s.Etcd.Server.Range(ctx, &pb.RangeRequest{Key: []byte{0}, CountOnly: true})
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Load puts every key → value of data in one transaction, sorted by key,
// and returns the revision.
func (s *Server) Load(ctx context.Context, data map[string]string) (int64, error) {
	if len(data) == 0 {
		return s.Revision(ctx)
	}
	var rev int64
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// etcd limits a transaction's operations (--max-txn-ops, 128).
	for start := 0; start < len(keys); start += 128 {
		var ops []*pb.RequestOp
		for _, k := range keys[start:min(start+128, len(keys))] {
			ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(data[k])}}})
		}
		resp, err := s.Etcd.Server.Txn(ctx, &pb.TxnRequest{Success: ops})
		if err != nil {
			return 0, err
		}
		rev = resp.Header.Revision
	}
	return rev, nil
}

// PrefixEnd is the end of the range of every key starting with key.
func PrefixEnd(key []byte) []byte {
	end := append([]byte(nil), key...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

package command

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/reconfig/reconfig/internal/etcd"
)

// resolveEndpoints applies --srv and --discovery-srv.
func resolveEndpoints(ctx context.Context, g *globals, resolver etcd.Resolver) ([]string, error) {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	switch {
	case g.srv != "":
		ep, err := etcd.PickSRV(ctx, resolver, g.srv, g.tlsRequested)
		if err != nil {
			return nil, err
		}
		return []string{ep}, nil
	case g.discoverySRV != "":
		return etcd.Discover(ctx, resolver, g.discoverySRV)
	}
	return g.endpoints, nil
}

// tlsConfig builds the TLS settings, nil for plain connections.
func tlsConfig(g *globals, endpoints []string) (*tls.Config, error) {
	files := etcd.TLSFiles{CACert: g.cacert, Cert: g.cert, Key: g.key, Passphrase: g.keyPassphrase, InsecureSkipVerify: g.insecureSkipVerify}
	https := false
	for _, e := range endpoints {
		if len(e) > 8 && e[:8] == "https://" {
			https = true
		}
	}
	if !g.tlsRequested && g.key == "" && !https {
		return nil, nil
	}
	return files.Config()
}

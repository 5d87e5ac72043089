package etcd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	"github.com/reconfig/reconfig/internal/hint"
)

// Resolver looks up SRV records; *net.Resolver is one, and tests inject
// their own.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// PickSRV resolves the original reconfig's --srv RECORD (a full SRV record
// name) and returns one of its targets at random as an endpoint.
func PickSRV(ctx context.Context, r Resolver, record string, tls bool) (string, error) {
	_, addrs, err := r.LookupSRV(ctx, "", "", record)
	if err != nil || len(addrs) == 0 {
		return "", hint.Wrap(&Error{Msg: fmt.Sprintf("--srv %s: no SRV records found (%v)", record, dnsReason(err))},
			"check the record with `host -t SRV "+record+"`")
	}
	a := addrs[rand.IntN(len(addrs))]
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(strings.TrimSuffix(a.Target, "."), strconv.Itoa(int(a.Port)))), nil
}

// Discover lists the client endpoints that etcdctl's --discovery-srv
// finds: _etcd-client-ssl._tcp.DOMAIN (https) and _etcd-client._tcp.DOMAIN
// (http).
func Discover(ctx context.Context, r Resolver, domain string) ([]string, error) {
	var eps []string
	var errs []string
	for _, s := range []struct{ service, scheme string }{{"etcd-client-ssl", "https"}, {"etcd-client", "http"}} {
		_, addrs, err := r.LookupSRV(ctx, s.service, "tcp", domain)
		if err != nil || len(addrs) == 0 {
			errs = append(errs, fmt.Sprintf("_%s._tcp.%s: %v", s.service, domain, dnsReason(err)))
			continue
		}
		for _, a := range addrs {
			eps = append(eps, fmt.Sprintf("%s://%s", s.scheme, net.JoinHostPort(strings.TrimSuffix(a.Target, "."), strconv.Itoa(int(a.Port)))))
		}
	}
	if len(eps) == 0 {
		return nil, hint.Wrap(&Error{Msg: fmt.Sprintf("--discovery-srv %s: no etcd client SRV records (%s)", domain, strings.Join(errs, "; "))},
			"publish _etcd-client._tcp or _etcd-client-ssl._tcp records, or pass --endpoints")
	}
	return eps, nil
}

func dnsReason(err error) string {
	if err == nil {
		return "empty answer"
	}
	if de, ok := err.(*net.DNSError); ok {
		if de.IsNotFound {
			return "no such record"
		}
		return de.Err
	}
	return err.Error()
}

// Package netguard refuses connections to link-local and cloud metadata
// addresses, so a connector's endpoint or proxy cannot be pointed at the
// instance metadata service to steal the host's credentials. The check runs
// at dial time on the resolved address, because DNS can change after
// validation.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Policy says which destinations are refused.
type Policy struct {
	// Allow lists ranges an operator explicitly permits, even link-local.
	Allow []netip.Prefix
	// DenyPrivate also refuses loopback and private ranges (for deployments
	// where tenants create their own connectors).
	DenyPrivate bool
}

var metadata = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba metadata
}

// Check returns an error if addr may not be dialled.
func (p Policy) Check(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, a := range p.Allow {
		if a.Contains(addr) {
			return nil
		}
	}
	for _, m := range metadata {
		if m.Contains(addr) {
			return fmt.Errorf("address %s is link-local or a cloud metadata address; Trawl refuses it so a connector cannot read instance credentials (an operator can allow the range with --allow-net %s)", addr, m)
		}
	}
	if p.DenyPrivate && (addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified()) {
		return fmt.Errorf("address %s is loopback or private, which this server is configured to refuse", addr)
	}
	return nil
}

// CheckHost resolves host and checks every address.
func (p Policy) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Check(a)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if err := p.Check(a); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	}
	return nil
}

// Dialer returns a dialer whose Control hook enforces the policy.
func (p Policy) Dialer(base *net.Dialer) *net.Dialer {
	d := *base
	d.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("netguard: %s: %w", address, err)
		}
		return p.Check(ap.Addr())
	}
	return &d
}

// Package netguard refuses connections to link-local and cloud metadata
// addresses, so a connector's endpoint, proxy or STS endpoint (or a
// webhook) cannot be pointed at the instance metadata service to steal the
// host's credentials. Hosts are checked when a connector is saved (a name
// that does not resolve is refused) and again at dial time on the address
// actually dialled, because DNS can change after validation. When a proxy
// is used, the proxy is dialled but the target host is still resolved and
// checked before each request, and redirects are never followed.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	// Resolver resolves host names (nil: the system's). Operators set it
	// with --dns-server; tests point it at a DNS server they control.
	Resolver *net.Resolver
}

// refused are the ranges never dialled unless allowed: link-local (IPv4
// and IPv6, where every cloud's metadata service lives), AWS's IPv6
// metadata range, the metadata addresses outside link-local (Alibaba's,
// Azure's WireServer, Oracle Cloud's), NAT64 and Teredo, through which an
// IPv6 host reaches IPv4 addresses, metadata included, and multicast,
// which no S3 endpoint, proxy or webhook is.
var refused = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::/32"),
	netip.MustParsePrefix("100.100.100.200/32"),
	netip.MustParsePrefix("168.63.129.16/32"),
	netip.MustParsePrefix("192.0.0.192/32"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
}

// privateToo are refused with DenyPrivate besides loopback, RFC 1918 and
// ULA (which netip knows): "this network" 0.0.0.0/8 (Linux dials 0.x as
// a local address), carrier-grade NAT 100.64.0.0/10, the IETF protocol
// assignments 192.0.0.0/24, the benchmarking range 198.18.0.0/15, the
// reserved 240.0.0.0/4, and IPv6's deprecated site-local fec0::/10.
var privateToo = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("fec0::/10"),
}

// sixToFour embeds an IPv4 address in bits 16-48 (2002:AABB:CCDD::).
var sixToFour = netip.MustParsePrefix("2002::/16")

// lowV4 are the IPv6 forms that carry an IPv4 address in their last 32
// bits besides the mapped one (::ffff:a.b.c.d, which Unmap handles): the
// deprecated IPv4-compatible ::a.b.c.d, which a host with a sit tunnel
// still routes, and SIIT's IPv4-translated ::ffff:0:a.b.c.d.
var lowV4 = []netip.Prefix{
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("::ffff:0:0:0/96"),
}

// embeddedV4 returns the IPv4 address an IPv6 address carries, if any.
func embeddedV4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	if sixToFour.Contains(addr) {
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	for _, p := range lowV4 {
		if p.Contains(addr) {
			return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
		}
	}
	return netip.Addr{}, false
}

// ErrRefused marks a destination the policy refuses.
var ErrRefused = errors.New("refused by the network guard")

// Check returns an error if addr may not be dialled. A zone
// (fd00:ec2::254%lo) is dropped first: prefixes never contain a zoned
// address, and the kernel ignores the zone of an address that is not
// link-local, so the zone must not change the answer.
func (p Policy) Check(addr netip.Addr) error {
	addr = addr.WithZone("").Unmap()
	for _, a := range p.Allow {
		if a.Contains(addr) {
			return nil
		}
	}
	for _, m := range refused {
		if m.Contains(addr) {
			return fmt.Errorf("address %s is link-local, multicast, NAT64, Teredo or a cloud metadata address; Trawl refuses it so a tenant cannot reach the server's instance credentials (an operator can allow the range with --allow-net %s): %w", addr, m, ErrRefused)
		}
	}
	if v4, ok := embeddedV4(addr); ok {
		if err := p.Check(v4); err != nil {
			return fmt.Errorf("address %s (6to4 or IPv4-compatible) embeds a refused address: %w", addr, err)
		}
	}
	if p.DenyPrivate && (addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() || inAny(privateToo, addr)) {
		return fmt.Errorf("address %s is loopback, private or reserved, which this server is configured to refuse: %w", addr, ErrRefused)
	}
	return nil
}

func inAny(ps []netip.Prefix, addr netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (p Policy) resolver() *net.Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// CheckHost resolves host and checks every address. A host that does not
// resolve is an error too: it cannot be shown to be safe.
func (p Policy) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Check(a)
	}
	addrs, err := p.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return unresolved(host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("host %s has no address: check the name", host)
	}
	for _, a := range addrs {
		if err := p.Check(a); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	}
	return nil
}

// unresolved says why host did not resolve without the resolver's error
// text: a *net.DNSError names the server's own DNS server
// ("lookup x on 127.0.0.53:53"), which a tenant has no business seeing.
func unresolved(host string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && (de.IsTimeout || de.IsTemporary) && !de.IsNotFound {
		return fmt.Errorf("host %s could not be resolved now (the DNS lookup failed or timed out): try again later, or check the name", host)
	}
	return fmt.Errorf("host %s does not resolve: check the name", host)
}

// Dialer returns a dialer that resolves with the policy's resolver and
// whose Control hook checks the address actually dialled.
func (p Policy) Dialer(base *net.Dialer) *net.Dialer {
	d := *base
	d.Resolver = p.Resolver
	d.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("netguard: %s: %w", address, err)
		}
		return p.Check(ap.Addr())
	}
	return &d
}

// Transport wraps an HTTP transport that goes through a proxy: the proxy's
// address is checked by the dialer, but the target host is resolved by the
// proxy, so it is resolved and checked here before every request.
func (p Policy) Transport(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if err := p.CheckHost(r.Context(), r.URL.Hostname()); err != nil {
			return nil, fmt.Errorf("netguard: %w", err)
		}
		return next.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// NoRedirects is an http.Client CheckRedirect that never follows a
// redirect: a redirect could lead to an address the guard would refuse,
// and AWS APIs do not need them (a wrong region answers 301 with the
// right one, which the caller reports).
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

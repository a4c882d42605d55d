package netguard

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/testutil/dnsserver"
)

func TestPolicy(t *testing.T) {
	var p Policy
	for _, a := range []string{"169.254.169.254", "fd00:ec2::254", "fe80::1", "::ffff:169.254.169.254"} {
		if err := p.Check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("%s allowed", a)
		}
	}
	for _, a := range []string{"127.0.0.1", "10.0.0.1", "52.216.0.1", "::1"} {
		if err := p.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused by default: %v", a, err)
		}
	}
	p.Allow = []netip.Prefix{netip.MustParsePrefix("169.254.10.0/24")}
	if err := p.Check(netip.MustParseAddr("169.254.10.5")); err != nil {
		t.Errorf("allowed range refused: %v", err)
	}
	p.DenyPrivate = true
	if err := p.Check(netip.MustParseAddr("10.1.2.3")); err == nil {
		t.Error("private refused with DenyPrivate")
	}
}

// TestDialerRefusesAtConnectTime: the check runs on the address actually
// dialled, so a name that later resolves to the metadata address is caught.
func TestDialerRefusesAtConnectTime(t *testing.T) {
	d := Policy{}.Dialer(&net.Dialer{})
	_, err := d.DialContext(context.Background(), "tcp", "169.254.169.254:80")
	if err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("dial to the metadata address: %v", err)
	}
}

// forms returns textual forms of addr that Go's parser accepts for the
// same address: canonical, expanded, uncompressed without leading zeros,
// upper case, with a dotted IPv4 tail,
// and for an IPv4 address its mapped, compatible, translated, 6to4 and
// NAT64 spellings.
func forms(addr netip.Addr) []string {
	out := []string{addr.String(), strings.ToUpper(addr.StringExpanded())}
	if addr.Is4() {
		v := addr.String()
		b := addr.As4()
		hex := fmt.Sprintf("%02x%02x:%02x%02x", b[0], b[1], b[2], b[3])
		out = append(out, "::ffff:"+v, "::FFFF:"+hex, "0:0:0:0:0:ffff:"+v, "::"+v, "::"+hex,
			"::ffff:0:"+v, "2002:"+hex+"::1", "64:ff9b::"+v, "64:ff9b:1::"+hex)
		return out
	}
	b := addr.As16()
	exp := addr.StringExpanded()
	groups := strings.Split(exp, ":")
	for i, g := range groups {
		if groups[i] = strings.TrimLeft(g, "0"); groups[i] == "" {
			groups[i] = "0"
		}
	}
	out = append(out, exp, strings.Join(groups, ":"), exp[:30]+fmt.Sprintf("%d.%d.%d.%d", b[12], b[13], b[14], b[15]))
	return out
}

// zones are the zones tried on every form: names, numbers, a literal
// URL escape, and none.
var zones = []string{"", "%lo", "%eth0", "%1", "%25lo", "%zz%"}

// refusedEverywhere checks that every spelling of addr, with every zone,
// is refused by Check, CheckHost and the dialer's Control hook.
func refusedEverywhere(t *testing.T, p Policy, addr netip.Addr) {
	t.Helper()
	ctl := p.Dialer(&net.Dialer{}).Control
	parsed := 0
	defer func() {
		if parsed < len(zones) {
			t.Errorf("only %d spellings of %s parse: the property is barely tried", parsed, addr)
		}
	}()
	for _, f := range forms(addr) {
		for _, z := range zones {
			s := f + z
			a, err := netip.ParseAddr(s)
			if err != nil {
				continue // not an address Go accepts: nothing dials it
			}
			parsed++
			if a.Is4() && z != "" {
				t.Fatalf("%q parsed as IPv4 with a zone", s)
			}
			if err := p.Check(a); !errors.Is(err, ErrRefused) {
				t.Errorf("Check(%s) of %s = %v, want refused", s, addr, err)
			}
			if err := p.CheckHost(context.Background(), s); !errors.Is(err, ErrRefused) {
				t.Errorf("CheckHost(%s) of %s = %v, want refused", s, addr, err)
			}
			if err := ctl("tcp", net.JoinHostPort(s, "80"), nil); !errors.Is(err, ErrRefused) {
				t.Errorf("dial Control(%s) of %s = %v, want refused", net.JoinHostPort(s, "80"), addr, err)
			}
		}
	}
}

// randomIn returns a random address of prefix pr.
func randomIn(r *rand.Rand, pr netip.Prefix) netip.Addr {
	b := pr.Addr().AsSlice()
	for i := range b {
		bit := i * 8
		keep := pr.Bits() - bit // bits of this byte fixed by the prefix
		rb := byte(r.IntN(256))
		switch {
		case keep >= 8:
		case keep <= 0:
			b[i] = rb
		default:
			mask := byte(0xff) >> keep
			b[i] = b[i]&^mask | rb&mask
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestRefusedStaysRefused is the guard's property: an address it refuses
// stays refused with any zone, in any IPv4-mapped or embedding form and in
// any spelling Go's parser accepts, at Check, CheckHost and dial time
// (a zone once let fd00:ec2::254%lo through all three).
func TestRefusedStaysRefused(t *testing.T) {
	r := rand.New(rand.NewPCG(22, 2))
	var p Policy
	for _, pr := range refused {
		for range 40 {
			a := randomIn(r, pr)
			if err := p.Check(a); err == nil {
				t.Fatalf("%s in %s not refused", a, pr)
			}
			refusedEverywhere(t, p, a)
		}
	}
	for _, s := range []string{"169.254.169.254", "fd00:ec2::254", "fe80::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "100.100.100.200"} {
		refusedEverywhere(t, p, netip.MustParseAddr(s))
	}
	// With --deny-private, loopback and private ranges too.
	deny := Policy{DenyPrivate: true}
	for _, pr := range []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "::1/128", "fe80::/10", "64:ff9b::/96"} {
		for range 20 {
			refusedEverywhere(t, deny, randomIn(r, netip.MustParsePrefix(pr)))
		}
	}
}

// TestZoneDoesNotRefusePublic: dropping the zone changes nothing for an
// address the guard allows, and embedded public IPv4 addresses pass.
func TestZoneDoesNotRefusePublic(t *testing.T) {
	var p Policy
	for _, s := range []string{"2600:1f18::1%eth0", "::ffff:52.216.0.1", "2002:34d8:1::1", "::1%lo", "fd12::1%lo"} {
		if err := p.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
}

// TestUnresolvedHidesTheResolver: the error for a name that does not
// resolve is shown to tenants, so it must not name the server's DNS
// server (Go's DNSError says "lookup x on 127.0.0.53:53").
func TestUnresolvedHidesTheResolver(t *testing.T) {
	dns := dnsserver.Start(t)
	p := Policy{Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, dns.Addr)
	}}}
	err := p.CheckHost(context.Background(), "nowhere.test")
	if err == nil || !strings.Contains(err.Error(), "nowhere.test does not resolve") {
		t.Fatalf("unresolvable name: %v", err)
	}
	host, _, _ := net.SplitHostPort(dns.Addr)
	if strings.Contains(err.Error(), host) || strings.Contains(err.Error(), " on ") {
		t.Errorf("the error names the server's resolver: %v", err)
	}
}

// TestOtherCloudsAndReservedRanges: addresses a hostile tenant tried
// that passed the guard: other clouds' metadata addresses, multicast and
// Teredo always refused; this-network, carrier-grade NAT, reserved and
// site-local ranges refused with DenyPrivate; public ones still allowed.
func TestOtherCloudsAndReservedRanges(t *testing.T) {
	open, deny := Policy{}, Policy{DenyPrivate: true}
	for _, a := range []string{"168.63.129.16", "192.0.0.192", "224.0.0.1", "239.255.255.250", "ff02::1", "2001::a9fe:a9fe", "::ffff:168.63.129.16"} {
		if open.Check(netip.MustParseAddr(a)) == nil {
			t.Errorf("%s passed the guard", a)
		}
	}
	for _, a := range []string{"0.1.2.3", "100.64.0.1", "100.127.255.254", "192.0.0.8", "198.18.0.1", "240.0.0.1", "fec0::1"} {
		if deny.Check(netip.MustParseAddr(a)) == nil {
			t.Errorf("%s passed the guard with DenyPrivate", a)
		}
		if open.Check(netip.MustParseAddr(a)) != nil {
			t.Errorf("%s refused without DenyPrivate: only link-local, metadata, NAT64, Teredo and multicast are always refused", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "52.216.1.1", "2600:1f18::1", "100.128.0.1"} {
		if err := deny.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("public %s refused: %v", a, err)
		}
	}
}

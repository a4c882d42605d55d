package netguard

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
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

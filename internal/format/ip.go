package format

import (
	"net/netip"
	"strconv"
	"strings"
)

// NormalizeIP returns the canonical text of an IPv4 or IPv6 address, or false
// when s is not one (CloudTrail puts service names such as
// ec2.amazonaws.com in sourceIPAddress). IPv4 octets with leading zeros, seen
// in anonymised exports, are read as decimal.
func NormalizeIP(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("").String(), true
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return "", false
	}
	var b [4]byte
	for i, p := range parts {
		if p == "" || len(p) > 3 {
			return "", false
		}
		n, err := strconv.Atoi(p)
		if err != nil || n > 255 {
			return "", false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b).String(), true
}

package interflow

import "net/netip"

// IPKey returns a sortable key of an address (32 hex digits of its IPv6 or
// IPv4-mapped form) so that a CIDR becomes a range of keys.
func IPKey(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	b := a.As16()
	const hexd = "0123456789abcdef"
	out := make([]byte, 32)
	for i, c := range b {
		out[2*i] = hexd[c>>4]
		out[2*i+1] = hexd[c&15]
	}
	return string(out)
}

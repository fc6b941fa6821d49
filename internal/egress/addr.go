package egress

import (
	"net/netip"
	"strconv"
	"strings"
)

// Special ranges that netip's predicates do not name.
var (
	sharedRange    = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598, carrier-grade NAT
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")     // RFC 1122: "this host on this network"
	reservedRange  = netip.MustParsePrefix("240.0.0.0/4")   // RFC 1112, with the broadcast address
	benchmarkRange = netip.MustParsePrefix("198.18.0.0/15") // RFC 2544
	ietfRange      = netip.MustParsePrefix("192.0.0.0/24")  // RFC 6890, protocol assignments
	siteLocal      = netip.MustParsePrefix("fec0::/10")     // RFC 3879, deprecated but routed by some
	compatRange    = netip.MustParsePrefix("::/96")         // IPv4-compatible IPv6, RFC 4291 (deprecated)
	translated     = netip.MustParsePrefix("::ffff:0:0:0/96")
	nat64Range     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052, reaches the IPv4 address through NAT64
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
)

// embedded returns the IPv4 address an IPv6 address stands for (mapped,
// compatible, translated, NAT64), or a unchanged.
func embedded(a netip.Addr) netip.Addr {
	a = a.WithZone("")
	if a.Is4In6() {
		return a.Unmap()
	}
	if !a.Is6() {
		return a
	}
	if compatRange.Contains(a) || translated.Contains(a) || nat64Range.Contains(a) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		// "::" and "::1" are IPv6's own unspecified and loopback
		// addresses, not IPv4-compatible forms of 0.0.0.0 and 0.0.0.1.
		if compatRange.Contains(a) && (a.IsUnspecified() || a.IsLoopback()) {
			return a
		}
		return v4
	}
	return a
}

// AddressRule names why an address is not a public unicast address, or
// returns "" for one that is. IPv6 forms of IPv4 addresses are judged by
// the IPv4 address.
func AddressRule(a netip.Addr) string {
	a = embedded(a)
	switch {
	case !a.IsValid():
		return "not an address"
	case a.IsUnspecified(), thisNetwork.Contains(a):
		return "an unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate(), siteLocal.Contains(a), nat64Local.Contains(a):
		return "a private address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "a link-local address"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "a multicast address"
	case sharedRange.Contains(a):
		return "a shared (CGNAT, 100.64.0.0/10) address"
	case reservedRange.Contains(a), benchmarkRange.Contains(a), ietfRange.Contains(a):
		return "a reserved address"
	}
	return ""
}

// parseLooseIPv4 reads an IPv4 address the way inet_aton does, which is
// how a C resolver (and so Go's cgo resolver, curl, and others) reads a
// host name made of numbers: one to four parts separated by dots, each
// decimal, octal with a leading 0, or hexadecimal with 0x; the last part
// fills the remaining bytes. "2130706433", "0177.0.0.1", "0x7f.1" and
// "127.1" are all 127.0.0.1.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseLoosePart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	last := len(vals) - 1
	for _, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	var n uint32
	for i, v := range vals[:last] {
		n |= uint32(v) << (8 * (3 - i))
	}
	n |= uint32(vals[last])
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func parseLoosePart(p string) (uint64, bool) {
	base := 10
	switch {
	case p == "":
		return 0, false
	case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true // "0x" alone is 0 to inet_aton
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	v, err := strconv.ParseUint(p, base, 32)
	return v, err == nil
}

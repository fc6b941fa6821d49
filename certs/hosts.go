package certs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// DefaultArchiveHosts are the code hosts whose archives registry metadata
// commonly names (Composer dist URLs point at them). sigil adds them to the
// configured registry hosts when a CA is made without an explicit host
// list, because the archive hosts a registry's metadata names are only known
// when sigil reads it, after the CA was made. Registry hosts themselves are
// never built in: they come from configuration (the upstream flags, or the
// repositories the machine's Composer and npm are configured with).
//
// A name also covers its subdomains (that is how X.509 name constraints
// work), so each entry is the narrowest name that still works.
var DefaultArchiveHosts = []string{
	"api.github.com",      // GitHub zipball URLs
	"codeload.github.com", // where api.github.com redirects those zipballs
	"gitlab.com",          // GitLab archive URLs
	"bitbucket.org",       // Bitbucket archive URLs
}

// ErrNotPermitted is returned (wrapped) by Permits and Leaf for a host the
// CA's name constraints do not cover.
var ErrNotPermitted = errors.New("not permitted by the CA's name constraints")

// maxHostLen is the longest DNS name (RFC 1035: 255 octets on the wire is
// 253 characters in text form). Longer input is not a host name.
const maxHostLen = 253

// parseHost reads a host as a client names it (CONNECT target, SNI, URL
// host): a DNS name or an IP address, with an optional :port and IPv6
// brackets. It returns the DNS name in canonical form (lower case, no
// trailing dot) or the IP address. The input is untrusted.
func parseHost(s string) (name string, ip netip.Addr, err error) {
	if len(s) > maxHostLen+8 { // room for brackets and a port
		return "", netip.Addr{}, fmt.Errorf("host name too long (%d bytes)", len(s))
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return "", netip.Addr{}, fmt.Errorf("host %q: an address with a zone cannot be in a certificate", s)
		}
		return "", a.Unmap(), nil
	}
	name = strings.ToLower(strings.TrimSuffix(s, "."))
	if err := checkDNSName(name); err != nil {
		return "", netip.Addr{}, fmt.Errorf("host %q: %w", s, err)
	}
	return name, netip.Addr{}, nil
}

// checkDNSName accepts names of letters, digits, hyphens and underscores in
// dot-separated labels of 1 to 63 characters: what a certificate's dNSName
// may hold. Wildcards are refused: sigil mints one certificate per host.
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("empty host name")
	}
	if len(name) > maxHostLen {
		return fmt.Errorf("host name longer than %d characters", maxHostLen)
	}
	// A name whose last label is all digits is an IP address in disguise
	// (127.0.0.1., 127.1) or no name at all: no top-level domain is numeric.
	last := name[strings.LastIndexByte(name, '.')+1:]
	if strings.Trim(last, "0123456789") == "" {
		return errors.New("not a host name: the last label is numeric (write an IP address without a trailing dot)")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("not a host name: each dot-separated label must be 1 to 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a host name: a label cannot start or end with '-'")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("not a host name: %q is not allowed (letters, digits, '-', '_' and '.' are)", c)
			}
		}
	}
	return nil
}

// CheckHosts reports whether hosts can be a CA's name constraints
// (Options.Hosts): DNS names or IP addresses, at least one DNS name, no
// wildcard and no public suffix.
func CheckHosts(hosts []string) error {
	_, _, err := constraints(hosts)
	return err
}

// constraints turns the hosts a CA may mint for into its permitted DNS
// names and IP ranges, in the order given, without duplicates.
func constraints(hosts []string) (dns []string, ips []*net.IPNet, err error) {
	seen := map[string]bool{}
	for _, h := range hosts {
		name, ip, err := parseHost(strings.TrimSpace(h))
		if err != nil {
			return nil, nil, err
		}
		if ip.IsValid() {
			if ip.IsUnspecified() {
				return nil, nil, fmt.Errorf("host %q: the unspecified address is not a host", h)
			}
			if !seen[ip.String()] {
				seen[ip.String()] = true
				ips = append(ips, &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ip.BitLen(), ip.BitLen())})
			}
			continue
		}
		if err := checkNotPublicSuffix(name); err != nil {
			return nil, nil, err
		}
		if !seen[name] {
			seen[name] = true
			dns = append(dns, name)
		}
	}
	if len(dns) == 0 {
		// Without a permitted DNS name X.509 leaves DNS names
		// unconstrained: the CA could mint for every site.
		return nil, nil, errors.New("at least one host name is needed: a CA without permitted DNS names could mint for every site")
	}
	return dns, ips, nil
}

// checkNotPublicSuffix refuses a constraint that is itself a public suffix
// (com, co.uk, github.io): a name constraint covers every subdomain, so
// "com" would let the CA mint for every .com site. A single label that the
// public suffix list does not know (localhost, a compose service name such
// as "verdaccio") is only a suffix by the list's default rule and is
// allowed.
func checkNotPublicSuffix(name string) error {
	suffix, icann := publicsuffix.PublicSuffix(name)
	if suffix == name && (icann || strings.Contains(name, ".")) {
		return fmt.Errorf("host %q is a public suffix: the CA could mint for every site under it", name)
	}
	return nil
}

// Permits reports whether the CA's name constraints allow a certificate for
// host (a DNS name or IP address, optionally with a :port), with the
// semantics clients apply: a permitted name covers itself and its
// subdomains; an IP address must be one that was named at init.
func (ca *CA) Permits(host string) error {
	_, err := ca.permitted(host)
	return err
}

// permitted parses host and checks it against the constraints; it returns
// the canonical key of the host (the DNS name or the address's text form).
func (ca *CA) permitted(host string) (string, error) {
	name, ip, err := parseHost(host)
	if err != nil {
		return "", err
	}
	c := ca.cert
	if ip.IsValid() {
		// Stricter than X.509, which would leave IPs free if the CA had no
		// IP constraint at all: sigil mints only for an address it was
		// told about.
		if !inRanges(c.PermittedIPRanges, ip) || inRanges(c.ExcludedIPRanges, ip) {
			return "", fmt.Errorf("%s: %w (it permits %s)", ip, ErrNotPermitted, strings.Join(ca.Hosts(), ", "))
		}
		return ip.String(), nil
	}
	if !underAny(c.PermittedDNSDomains, name) || underAny(c.ExcludedDNSDomains, name) {
		return "", fmt.Errorf("%s: %w (it permits %s)", name, ErrNotPermitted, strings.Join(ca.Hosts(), ", "))
	}
	return name, nil
}

func inRanges(ranges []*net.IPNet, ip netip.Addr) bool {
	for _, r := range ranges {
		if r.Contains(ip.AsSlice()) {
			return true
		}
	}
	return false
}

// underAny is the dNSName constraint match of RFC 5280 as Go, OpenSSL and
// browsers implement it: the name itself or any name that ends with "." and
// the constraint; a constraint with a leading dot matches only subdomains.
func underAny(constraints []string, name string) bool {
	for _, c := range constraints {
		c = strings.ToLower(c)
		switch {
		case c == "":
			return true
		case strings.HasPrefix(c, "."):
			if strings.HasSuffix(name, c) {
				return true
			}
		case name == c || strings.HasSuffix(name, "."+c):
			return true
		}
	}
	return false
}

// Hosts returns what the CA may mint for: its permitted DNS names (each
// with its subdomains) and IP addresses.
func (ca *CA) Hosts() []string {
	out := append([]string(nil), ca.cert.PermittedDNSDomains...)
	for _, r := range ca.cert.PermittedIPRanges {
		if ones, bits := r.Mask.Size(); ones == bits {
			out = append(out, r.IP.String())
		} else {
			out = append(out, r.String())
		}
	}
	return out
}

package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config's timeouts.
const (
	// DefaultIdleTimeout: an upstream that sends nothing for this long
	// while a body is being read has stalled.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultDeadline bounds a request from its start to the body's last
	// byte: 1 GiB (the largest archive sigil takes) at about 1 MB/s.
	DefaultDeadline = 20 * time.Minute
)

// Resolver resolves host names at dial time; *net.Resolver is one. Tests
// give one that answers what they need.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Policy. Hosts are "HOST" (its ports 443 and 80) or
// "HOST:PORT"; an IPv6 address with a port is written in brackets.
type Config struct {
	// Named are the hosts the operator named: the upstreams' and
	// --archive-host. They may resolve to any address.
	Named []string
	// Conventional are the hosts the upstreams' conventions imply; they
	// are fetched from public addresses only.
	Conventional []string
	// Self are sigil's own addresses ("127.0.0.1:8780", ":8780",
	// "mirror.example:443"), never fetched. A listen address on the
	// unspecified address stands for every address of this machine.
	Self []string
	// TLS configures connections to https hosts. Default: the system
	// roots.
	TLS *tls.Config
	// IdleTimeout bounds the wait for the next byte of a body. Default:
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Deadline bounds a request from start to the body's last byte.
	// Default: DefaultDeadline.
	Deadline time.Duration
	// Resolver resolves names at dial time. Default: net.DefaultResolver.
	Resolver Resolver
}

// Policy decides which URLs sigil fetches (see the package doc). It is
// immutable and safe for concurrent use.
type Policy struct {
	named, conventional map[string]bool // canonical "host:port"
	self                map[string]bool // canonical "host:port"
	selfAnyPort         map[string]bool // ports of listeners on the unspecified address
	localAddrs          []netip.Addr    // this machine's addresses, for selfAnyPort
	idle, deadline      time.Duration
	resolver            Resolver
	tls                 *tls.Config
	transport           *transport
}

// Refused is a fetch the policy does not allow. It names the host and the
// rule, and nothing the host could have answered: no connection was made.
type Refused struct {
	Host string // as the URL named it, "host:port"
	Rule string // why, one phrase
}

func (e *Refused) Error() string {
	return "sigil does not fetch from " + e.Host + ": " + e.Rule
}

// Rules a Refused names besides an address's (AddressRule).
const (
	ruleNotListed = "not a configured upstream or archive host (an operator can name it with --archive-host)"
	ruleSelf      = "that is sigil itself"
	ruleScheme    = "only http and https URLs are fetched"
)

// New checks cfg and returns its Policy. It does no I/O but reading this
// machine's interface addresses when a Self address is unspecified.
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		named:        map[string]bool{},
		conventional: map[string]bool{},
		self:         map[string]bool{},
		selfAnyPort:  map[string]bool{},
		idle:         cfg.IdleTimeout,
		deadline:     cfg.Deadline,
		resolver:     cfg.Resolver,
		tls:          cfg.TLS,
	}
	for _, list := range []struct {
		hosts []string
		into  map[string]bool
	}{{cfg.Named, p.named}, {cfg.Conventional, p.conventional}} {
		for _, h := range list.hosts {
			hps, err := ParseHost(h)
			if err != nil {
				return nil, err
			}
			for _, hp := range hps {
				list.into[hp] = true
			}
		}
	}
	for _, s := range cfg.Self {
		if err := p.addSelf(s); err != nil {
			return nil, err
		}
	}
	if p.idle <= 0 {
		p.idle = DefaultIdleTimeout
	}
	if p.deadline <= 0 {
		p.deadline = DefaultDeadline
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	p.transport = p.newTransport()
	return p, nil
}

func (p *Policy) addSelf(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("egress: own address %q: %w", s, err)
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		p.selfAnyPort[port] = true
		if p.localAddrs == nil {
			p.localAddrs = localAddrs()
		}
		return nil
	}
	hp, _, err := canonical(host, port)
	if err != nil {
		return fmt.Errorf("egress: own address %q: %w", s, err)
	}
	p.self[hp] = true
	return nil
}

// localAddrs are this machine's interface addresses; unreadable ones are
// left out (loopback is judged by range anyway).
func localAddrs() []netip.Addr {
	out := []netip.Addr{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// ParseHost reads a host as Config takes it, "HOST" or "HOST:PORT", and
// returns the canonical "host:port" forms it stands for. It is how
// --archive-host is checked.
func ParseHost(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "/@*? ") {
		return nil, fmt.Errorf("host %q: want HOST or HOST:PORT (no scheme, path or wildcard)", s)
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		hp, _, err := canonical(host, port)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", s, err)
		}
		return []string{hp}, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	https, _, err := canonical(host, "443")
	if err != nil {
		return nil, fmt.Errorf("host %q: %w", s, err)
	}
	http, _, _ := canonical(host, "80")
	return []string{https, http}, nil
}

// Canonical returns host and port as "host:port" in the form the policy
// compares them: the host in lower case without a trailing dot, an IP
// address in its standard form (IPv6 in brackets, IPv4-mapped unmapped),
// the port in decimal. It refuses what is no host and port, and what the
// policy never fetches whatever is named: an IPv4 address in a
// non-standard form, an address with a zone. The input is untrusted.
func Canonical(host, port string) (string, error) {
	hp, _, err := canonical(host, port)
	return hp, err
}

// canonical is Canonical, with the address when the host is one.
func canonical(host, port string) (hp string, addr netip.Addr, err error) {
	n, perr := strconv.Atoi(port)
	if perr != nil || n < 1 || n > 65535 || port[0] == '+' {
		return "", netip.Addr{}, fmt.Errorf("port %q is not a port number", port)
	}
	if len(host) > 253 {
		return "", netip.Addr{}, errors.New("host name too long")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", netip.Addr{}, errors.New("an address with a zone is not fetched")
		}
		a = a.Unmap()
		return net.JoinHostPort(a.String(), strconv.Itoa(n)), a, nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if a, ok := parseLooseIPv4(name); ok {
		return "", netip.Addr{}, fmt.Errorf("an IPv4 address written in a non-standard form (it means %s), which resolvers read differently", a)
	}
	if !validName(name) {
		return "", netip.Addr{}, errors.New("not a host name")
	}
	return net.JoinHostPort(name, strconv.Itoa(n)), netip.Addr{}, nil
}

// validName accepts what can be a DNS name in a URL: letters, digits, '-',
// '_' and '.', no empty label.
func validName(h string) bool {
	if h == "" {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CheckURL reports whether the policy lets sigil fetch u, judging by the
// URL alone: its scheme, and its host and port (named, conventional, not
// sigil's own, not a special address unless named). A nil result is not
// the whole answer: the dial checks every address the host resolves to.
func (p *Policy) CheckURL(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return &Refused{Host: u.Scheme + "://" + u.Host, Rule: ruleScheme}
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	_, err := p.checkHost(u.Hostname(), port)
	return err
}

// checkHost is the check of a host and port by name; it reports whether
// the host is named.
func (p *Policy) checkHost(host, port string) (named bool, err error) {
	shown := net.JoinHostPort(host, port)
	hp, addr, err := canonical(host, port)
	if err != nil {
		return false, &Refused{Host: shown, Rule: err.Error()}
	}
	if p.isSelf(hp, addr, port) {
		return false, &Refused{Host: shown, Rule: ruleSelf}
	}
	named = p.named[hp]
	if addr.IsValid() && !named {
		if rule := AddressRule(addr); rule != "" {
			return false, &Refused{Host: shown, Rule: rule + ", and not named as an upstream or with --archive-host"}
		}
	}
	if !named && !p.conventional[hp] {
		return false, &Refused{Host: shown, Rule: ruleNotListed}
	}
	return named, nil
}

// isSelf reports whether hp (with its address, if it is one) is one of
// sigil's own addresses.
func (p *Policy) isSelf(hp string, addr netip.Addr, port string) bool {
	if p.self[hp] {
		return true
	}
	if !p.selfAnyPort[port] {
		return false
	}
	if !addr.IsValid() {
		return strings.HasPrefix(hp, "localhost:")
	}
	addr = embedded(addr)
	return addr.IsLoopback() || addr.IsUnspecified() || slices.Contains(p.localAddrs, addr)
}

// checkAddr is the check at dial time of one address a host resolved to.
func (p *Policy) checkAddr(shown string, a netip.Addr, port string, named bool) error {
	hp := net.JoinHostPort(a.Unmap().String(), port)
	if p.isSelf(hp, a.Unmap(), port) {
		return &Refused{Host: shown, Rule: ruleSelf + " (it resolves to " + a.String() + ")"}
	}
	if named {
		return nil
	}
	if rule := AddressRule(a); rule != "" {
		return &Refused{Host: shown, Rule: "it resolves to " + a.String() + ", " + rule + ", and it was not named as an upstream or with --archive-host"}
	}
	return nil
}

// Hosts lists what the policy fetches from, sorted: the named hosts, then
// the conventional ones marked "(public addresses only)".
func (p *Policy) Hosts() []string {
	named := slices.Sorted(maps.Keys(p.named))
	conv := slices.Sorted(maps.Keys(p.conventional))
	for _, h := range conv {
		if !p.named[h] {
			named = append(named, h+" (public addresses only)")
		}
	}
	return named
}

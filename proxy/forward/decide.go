package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/sigilproxy/sigil/internal/egress"
)

// action is what becomes of a proxy request's target.
type action int

const (
	actRefuse    action = iota // refused, nothing dialled
	actSelf                    // sigil's own address: its mirror routes
	actIntercept               // answered by sigil, through a front
	actTunnel                  // an allowed target: passed untouched
)

// decision is the verdict on one target.
type decision struct {
	action   action
	status   int    // for refusals
	target   string // as the client named it, or canonical when it parsed
	host     string // canonical host, no port
	hostport string // canonical "host:port"
	origin   string // "scheme://host:port"
	reason   string // for refusals, one line
}

// decide says what becomes of a request for target ("host:port", or a
// host alone for the scheme's default port) under scheme, from names
// only: nothing is resolved or dialled here.
func (p *Proxy) decide(ctx context.Context, scheme, target string) decision {
	hp, host, ok := canonicalTarget(target, defaultPort(scheme))
	if !ok {
		return decision{status: http.StatusBadRequest, target: target, reason: "not a host and port"}
	}
	d := decision{target: hp, host: host, hostport: hp, origin: scheme + "://" + hp}
	if isSelf(ctx, hp) {
		d.action = actSelf
		return d
	}
	// Interception is decided before the allow list: an allowed upstream
	// is still verified, and so is an allowed archive host, whether or
	// not metadata named it lately (a tunnel would pass a lock file's
	// archives unverified).
	always := len(p.upstreams[d.origin]) > 0 || p.allow[hp] && p.archive[hp]
	learned := !always && p.learned(ctx, d.origin)
	if learned && p.allow[hp] {
		p.warnLearnedAllowed(hp)
	}
	if always || learned {
		if scheme == "https" {
			if err := p.ca.Permits(host); err != nil {
				d.status = http.StatusForbidden
				d.reason = fmt.Sprintf("sigil's CA may not mint a certificate for it (%v); make a CA that names it with 'sigil ca init --dir NEWDIR --host %s' (and the other hosts sigil intercepts), trust that one and start sigil with it", err, host)
				return d
			}
		}
		d.action = actIntercept
		return d
	}
	if p.allow[hp] {
		d.action = actTunnel
		return d
	}
	d.status = http.StatusForbidden
	d.reason = "not a configured upstream, not a host named by metadata sigil served, and not allowed (--allow-host); no connection was made" +
		" (installing from a lock file? let the metadata pass through sigil first, e.g. with composer update --lock, which keeps the locked versions)"
	return d
}

// warnLearnedAllowed tells the operator, once per host, that an allowed
// host serves archives that metadata names: from now on it is
// intercepted, not tunnelled (the fronts keep it for good, see
// Tunnelled), so what else the client wanted from it through the tunnel
// (git over HTTPS) is refused; and a lock-file install before metadata
// named it would have been tunnelled.
func (p *Proxy) warnLearnedAllowed(hp string) {
	if _, told := p.warned.LoadOrStore(hp, true); told {
		return
	}
	p.log.Warn("forward: metadata names archives on a host that --allow-host tunnels: sigil intercepts it from now on and verifies its archives; other requests to it (git over HTTPS) are refused",
		"host", hp, "hint", "name it with --archive-host "+hp+" (sigil then intercepts it from the start, also for a lock-file install before any metadata named it)")
}

// Tunnelled returns the fronts' Config.Tunnelled for a Proxy whose
// Config.Allow is allow: whether it tunnels origin ("scheme://host:port")
// when it does not intercept it. An archive host that served metadata
// named on such an origin must be kept by the front for good: forgotten,
// it would be tunnelled, and a lock file's archives on it would reach the
// client unverified. Entries that do not parse are skipped (New says
// what is wrong with them).
func Tunnelled(allow []string) func(origin string) bool {
	set := map[string]bool{}
	for _, a := range allow {
		hps, _ := parseAllow(a)
		for _, hp := range hps {
			set[hp] = true
		}
	}
	return func(origin string) bool {
		scheme, hp, ok := strings.Cut(origin, "://")
		if !ok {
			return false
		}
		c, _, ok := canonicalTarget(hp, defaultPort(scheme))
		return ok && set[c]
	}
}

// learned reports whether a front learned an archive at origin.
func (p *Proxy) learned(ctx context.Context, origin string) bool {
	for _, a := range p.archives {
		if a.ArchiveOrigin(ctx, origin) {
			return true
		}
	}
	return false
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}

// canonicalTarget parses "host:port" (or a host alone, taking port) as a
// client names a target, and returns it as "host:port" in the form the
// outbound policy compares (egress.Canonical: lower case, no trailing dot,
// an IP address in its standard form, IPv6 in brackets, the port in
// decimal), and the host alone. The input is untrusted.
func canonicalTarget(s, port string) (hostport, host string, ok bool) {
	if len(s) > 300 {
		return "", "", false
	}
	host = s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	hp, err := egress.Canonical(host, port)
	if err != nil {
		return "", "", false
	}
	host, _, _ = net.SplitHostPort(hp)
	return hp, host, true
}

// urlOrigin is u's origin, "scheme://host:port", in canonical form.
func urlOrigin(u *url.URL) (string, bool) {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	hp, _, ok := canonicalTarget(u.Host, defaultPort(scheme))
	if !ok {
		return "", false
	}
	return scheme + "://" + hp, true
}

// sameOrigin reports whether a Host header names origin.
func sameOrigin(hostHeader, origin string) bool {
	scheme, hp, _ := strings.Cut(origin, "://")
	got, _, ok := canonicalTarget(hostHeader, defaultPort(scheme))
	return ok && got == hp
}

// parseAllow reads an allowed target: "HOST:PORT", or "HOST" for its ports
// 443 and 80.
func parseAllow(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "*/@ ") {
		return nil, errors.New("want HOST or HOST:PORT (no wildcards, schemes or paths)")
	}
	if hp, _, ok := canonicalTarget(s, ""); ok {
		return []string{hp}, nil
	}
	https, _, ok1 := canonicalTarget(s, "443")
	http, _, ok2 := canonicalTarget(s, "80")
	if !ok1 || !ok2 {
		return nil, errors.New("want HOST or HOST:PORT")
	}
	return []string{https, http}, nil
}

// isSelf reports whether hostport is the address the request came in on:
// a proxy request for sigil itself (a client with HTTP_PROXY set that also
// uses sigil's mirror URL).
func isSelf(ctx context.Context, hostport string) bool {
	local, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	la, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != strconv.Itoa(int(la.Port())) {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a == la.Addr().Unmap()
	}
	return host == "localhost" && la.Addr().IsLoopback()
}

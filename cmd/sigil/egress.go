package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/certs"
	"github.com/sigilproxy/sigil/internal/egress"
)

// logTimeout bounds one request to the release log (tlog's own default).
const logTimeout = 30 * time.Second

func archiveHostFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "archive-host",
		Usage:   "HOST[:PORT] archives may be fetched from, besides the upstreams (repeatable; HOST alone: ports 443 and 80; replaces the default list; default with a Composer upstream: " + strings.Join(certs.DefaultArchiveHosts, ", ") + ")",
		EnvVars: envVars("archive-host", "archive-hosts")}
}

// outbound is what serve's fetch policy is made from.
type outbound struct {
	upstreams []*url.URL // the configured upstreams and the log; nil entries are skipped
	composer  bool       // a Composer upstream is configured: its code hosts are the default archive hosts
	listen    string     // the address sigil listens on
	tls       *tls.Config
}

// outboundPolicy is the one policy of everything serve fetches: the
// upstreams' and the log's hosts and --archive-host, named by the
// operator; without --archive-host, the code hosts Composer dists point
// at, from public addresses only; never sigil itself.
func outboundPolicy(c *cli.Context, o outbound) (*egress.Policy, error) {
	self, err := selfAddrs(c, o.listen)
	if err != nil {
		return nil, err
	}
	cfg := egress.Config{TLS: o.tls, Self: self}
	for _, u := range o.upstreams {
		if u != nil {
			cfg.Named = append(cfg.Named, hostPort(u))
		}
	}
	archive, conventional := archiveHosts(c, o.composer)
	for _, h := range archive {
		if _, err := egress.ParseHost(h); err != nil {
			return nil, usageError("--archive-host: "+err.Error(), "want HOST or HOST:PORT, e.g. --archive-host files.example.com")
		}
	}
	if conventional {
		cfg.Conventional = archive
	} else {
		cfg.Named = append(cfg.Named, archive...)
	}
	p, err := egress.New(cfg)
	if err != nil {
		return nil, usageError(err.Error(), "check --composer-upstream, --npm-upstream, --log and --archive-host")
	}
	return p, nil
}

// archiveHosts are the hosts serve fetches archives from besides the
// upstreams: --archive-host, or without it and with a Composer upstream
// the code hosts Composer dists point at (conventional: fetched from
// public addresses only).
func archiveHosts(c *cli.Context, composer bool) (hosts []string, conventional bool) {
	if named := nonEmpty(c.StringSlice("archive-host")); len(named) > 0 || !composer {
		return named, false
	}
	return certs.DefaultArchiveHosts, true
}

// selfAddrs are sigil's own addresses: the listener and --public-url.
func selfAddrs(c *cli.Context, listen string) ([]string, error) {
	self := []string{listen}
	if pub := c.String("public-url"); pub != "" {
		u, err := url.Parse(pub)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError(fmt.Sprintf("--public-url %q: want an http or https URL", pub), "")
		}
		self = append(self, hostPort(u))
	}
	return self, nil
}

// tunnelPolicy checks forward mode's tunnels to --allow-host at dial time
// like every fetch: a host the operator allowed may resolve to any
// address but sigil's own, so a name whose DNS answer moves to sigil's
// listener does not make sigil connect to itself.
func tunnelPolicy(c *cli.Context, allow []string) (*egress.Policy, error) {
	self, err := selfAddrs(c, c.String("listen"))
	if err != nil {
		return nil, err
	}
	p, err := egress.New(egress.Config{Named: allow, Self: self})
	if err != nil {
		return nil, usageError("--allow-host: "+err.Error(), "want --allow-host HOST or HOST:PORT")
	}
	return p, nil
}

// hostPort is u's "host:port", the port from the scheme when u has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

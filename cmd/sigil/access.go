package main

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/proxy/auth"
)

// healthPath stays open on a guarded mirror: load balancers and monitors
// carry no token, and it shows aggregate state only.
const healthPath = "/-/healthz"

// guardAccess puts the client-token check of --auth-tokens in front of
// every route but the health check. Without tokens, a listener others can
// reach is worth a warning: anyone who reaches the port can use the mirror
// (and its upstream credentials, bandwidth and disk).
func guardAccess(c *cli.Context, h http.Handler, logger *slog.Logger) (http.Handler, error) {
	file := c.String("auth-tokens")
	if file == "" {
		if !loopbackOnly(c.String("listen")) {
			logger.Warn("listening on "+c.String("listen")+" without --auth-tokens: anyone who can reach this port can use the mirror",
				"hint", "make tokens with 'sigil token add --file FILE --name NAME' and start with --auth-tokens FILE, or listen on 127.0.0.1")
		}
		return h, nil
	}
	g, err := auth.Load(file, logger.With("part", "auth"))
	if err != nil {
		return nil, usageError("--auth-tokens: "+err.Error(), "make the file with 'sigil token add --file FILE --name NAME'")
	}
	logger.Info("client tokens required", "file", file, "tokens", g.Len())
	return g.Handler(h, func(r *http.Request) bool { return r.URL.Path == healthPath }), nil
}

// loopbackOnly reports whether listen (HOST:PORT) accepts connections from
// this machine only. A host name other than localhost counts as reachable:
// what it resolves to can change.
func loopbackOnly(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

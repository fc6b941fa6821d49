package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/certs"
	"github.com/sigilproxy/sigil/internal/egress"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/composer"
	"github.com/sigilproxy/sigil/proxy/forward"
	"github.com/sigilproxy/sigil/proxy/npm"
)

// forwardFlags are serve's flags for forward (HTTPS_PROXY) mode.
func forwardFlags() []cli.Flag {
	return []cli.Flag{
		// SIGIL_CA_DIR is also what 'sigil ca init' and 'ca show' read.
		&cli.StringFlag{Name: "ca-dir", Usage: "DIR of the CA made by 'sigil ca init': turns on forward (HTTPS_PROXY) mode", EnvVars: envVar("ca-dir")},
		&cli.StringSliceFlag{Name: "allow-host", Usage: "HOST[:PORT] that forward mode tunnels untouched (repeatable; HOST alone: ports 443 and 80)", EnvVars: envVars("allow-host", "allow-hosts")},
	}
}

// forwardParts is what forward mode shares with the mirror: the same
// upstream fetching, checker, cache and mode.
type forwardParts struct {
	composerURL *url.URL // nil: no Composer upstream
	npmURL      *url.URL // nil: no npm upstream
	upstream    proxy.Upstream
	checker     proxy.Checker
	store       *cache.Store
	policy      *policy.Config
	client      *http.Client // trusts --upstream-ca
	logger      *slog.Logger
	budget      *proxy.MetadataBudget // charged by intercepted requests too
	renderedDir string                // the fronts' RenderedDir
	metrics     *proxy.Metrics        // the mirror's: intercepted requests count under the same fronts
}

// forwardHandler returns the handler of sigil's listener: the mirror
// routes, with forward mode in front of them when --ca-dir is set, and a
// function that stops forward mode's intercepted connections. Without
// --ca-dir every proxy request is refused: sigil is never an open proxy.
func forwardHandler(c *cli.Context, mirror http.Handler, parts forwardParts) (http.Handler, func(), error) {
	logger := parts.logger.With("part", "forward")
	allow := nonEmpty(c.StringSlice("allow-host"))
	dir := c.String("ca-dir")
	if dir == "" {
		if len(allow) > 0 {
			return nil, nil, usageError("--allow-host needs --ca-dir", "forward mode needs a CA: 'sigil ca init --dir DIR', then --ca-dir DIR")
		}
		return forward.NonProxyOnly(mirror, logger, parts.metrics), func() {}, nil
	}
	ca, err := certs.LoadCA(dir)
	if err != nil {
		return nil, nil, caError(err)
	}
	// The fronts are the mirror's, in forward mode: mounted at the
	// upstream's own path, keeping its archive URLs, and remembering in
	// the cache which archive URLs served metadata named.
	var upstreams []forward.Upstream
	if u := parts.composerURL; u != nil {
		h, err := composer.New(composer.Config{
			UpstreamURL: u,
			Upstream:    parts.upstream,
			Checker:     parts.checker,
			Prefix:      forwardPrefix(u),
			Served:      parts.store,
			Learned:     proxy.StoreCache(parts.store),
			Tunnelled:   forward.Tunnelled(allow),
			Mode:        parts.policy.Mode,
			Client:      parts.client,
			Forward:     true,
			Logger:      parts.logger.With("part", "composer-forward"),
			Metrics:     parts.metrics,
			RenderedDir: parts.renderedDir,
		})
		if err != nil {
			return nil, nil, usageError(err.Error(), "")
		}
		upstreams = append(upstreams, forward.Upstream{URL: u, Front: countedFront{h, "composer", parts.metrics}})
	}
	if u := parts.npmURL; u != nil {
		cfg := npm.Config{
			UpstreamURL: u,
			Upstream:    parts.upstream,
			Checker:     parts.checker,
			Prefix:      forwardPrefix(u),
			Served:      parts.store,
			Keys:        parts.store,
			Learned:     proxy.StoreCache(parts.store),
			Tunnelled:   forward.Tunnelled(allow),
			Mode:        parts.policy.Mode,
			Client:      parts.client,
			Forward:     true,
			Logger:      parts.logger.With("part", "npm-forward"),
			Metrics:     parts.metrics,
			RenderedDir: parts.renderedDir,
		}
		// serve checked the flag already, for the mirror.
		if err := cfg.RegistrySignatures.UnmarshalText([]byte(c.String("npm-registry-signatures"))); err != nil {
			return nil, nil, usageError("--npm-registry-signatures: "+err.Error(), "want off, warn or require")
		}
		h, err := npm.New(cfg)
		if err != nil {
			return nil, nil, usageError(err.Error(), "")
		}
		upstreams = append(upstreams, forward.Upstream{URL: u, Front: countedFront{h, "npm", parts.metrics}})
	}
	for _, up := range upstreams {
		if err := ca.Permits(up.URL.Host); up.URL.Scheme == "https" && err != nil {
			// Not fatal: the mirror still works, and forward mode
			// refuses the host with the same hint.
			logger.Warn("forward mode cannot intercept an upstream: "+err.Error(),
				"hint", "make a CA that names it: sigil ca init --dir NEWDIR --host "+up.URL.Hostname())
		}
	}
	// forward.New checks --allow-host and says what is wrong with it;
	// only then is the tunnels' dial policy made from it.
	var tunnels *egress.Policy
	archives, _ := archiveHosts(c, parts.composerURL != nil)
	p, err := forward.New(forward.Config{
		CA:        ca,
		Upstreams: upstreams,
		Allow:     allow,
		// An allowed archive host is intercepted all the same.
		Archives: archives,
		// Intercepted requests reach the fronts on forward mode's own
		// server, past the listener's handler: the budget bounds them too.
		Wrap: parts.budget.Handler,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return tunnels.DialContext(ctx, network, addr)
		},
		NonProxy: mirror,
		Logger:   logger,
		Metrics:  parts.metrics,
	})
	if err != nil {
		hint := ""
		if strings.Contains(err.Error(), "allowed host") {
			hint = "want --allow-host HOST or HOST:PORT"
		}
		return nil, nil, usageError(strings.TrimPrefix(err.Error(), "forward: "), hint)
	}
	if tunnels, err = tunnelPolicy(c, allow); err != nil {
		return nil, nil, err
	}
	logger.Info("forward mode on: set HTTPS_PROXY to sigil's address and trust its CA (sigil ca show)",
		"ca", ca.Certificate().Subject.CommonName, "ca_hosts", strings.Join(ca.Hosts(), ","),
		"composer_upstream", urlString(parts.composerURL), "npm_upstream", urlString(parts.npmURL), "allow", strings.Join(allow, ","))
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if p.Shutdown(ctx) != nil {
			p.Close()
		}
	}
	return p, stop, nil
}

// forwardPrefix is the path a forward-mode front is mounted at: the
// upstream URL's path, as the client asks for it ("/" for none; the
// directory of a packages.json URL).
func forwardPrefix(u *url.URL) string {
	p := strings.TrimSuffix(u.Path, "/")
	if strings.HasSuffix(p, ".json") {
		p = path.Dir(p)
	}
	if p == "" || p == "." || p == "/" {
		return "/"
	}
	return p
}

// forwardFront is a front as forward mode uses it (composer.Handler and
// npm.Handler with Forward set).
type forwardFront interface {
	http.Handler
	forward.Router
	forward.Archives
}

// countedFront counts what a forward-mode front answers in the metrics,
// under the same front name as the mirror's routes, archives served by
// their URL included.
type countedFront struct {
	front   forwardFront
	name    string
	metrics *proxy.Metrics
}

var _ forwardFront = countedFront{}

func (f countedFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.metrics.Serve(f.name, w, func(w http.ResponseWriter) bool {
		f.front.ServeHTTP(w, r)
		return true
	})
}

func (f countedFront) Routes(escapedPath string) bool { return f.front.Routes(escapedPath) }

func (f countedFront) ArchiveOrigin(ctx context.Context, origin string) bool {
	return f.front.ArchiveOrigin(ctx, origin)
}

func (f countedFront) ServeArchiveURL(w http.ResponseWriter, r *http.Request, archiveURL string) bool {
	return f.metrics.Serve(f.name, w, func(w http.ResponseWriter) bool {
		return f.front.ServeArchiveURL(w, r, archiveURL)
	})
}

package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/sigilproxy/sigil/certs"
	"github.com/sigilproxy/sigil/proxy"
)

// Router is implemented by a front that can tell its own routes from the
// rest of its upstream's paths (composer.Handler). The Proxy sends it only
// the requests for its routes and answers other paths itself; a front that
// is not a Router gets every request for its upstream's origin.
type Router interface {
	// Routes reports whether the escaped path is one of the front's
	// routes.
	Routes(escapedPath string) bool
}

// Archives is implemented by a front whose metadata names archives by
// absolute URL, on any host (composer.Handler in Forward mode). Both
// methods are safe for concurrent use.
type Archives interface {
	// ArchiveOrigin reports whether metadata the front served named an
	// archive at origin, written "scheme://host:port": scheme and host in
	// lower case, no trailing dot, the port always written, an IPv6
	// address in brackets.
	ArchiveOrigin(ctx context.Context, origin string) bool
	// ServeArchiveURL answers r, a request for archiveURL, if metadata
	// the front served named that URL, and reports whether it did. When
	// it reports false it has written nothing.
	ServeArchiveURL(w http.ResponseWriter, r *http.Request, archiveURL string) bool
}

// Upstream is a registry whose origin the Proxy intercepts.
type Upstream struct {
	// URL is the upstream's URL as clients are configured with it; its
	// scheme, host and port are what is intercepted.
	URL *url.URL
	// Front answers the requests for that origin: an ecosystem front in
	// forward mode, mounted at URL's path. It may implement Router and
	// Archives.
	Front http.Handler
}

// upstream is an Upstream with its base path (escaped, no trailing "/").
type upstream struct {
	*Upstream
	base string
}

// Config configures a Proxy. CA is required; every other field has a
// working zero value.
type Config struct {
	// CA mints the certificates of intercepted hosts.
	CA *certs.CA
	// Upstreams are the registries whose origins are intercepted.
	Upstreams []Upstream
	// Allow lists the targets tunnelled untouched: "HOST:PORT", or
	// "HOST" for its ports 443 and 80. Default: none.
	Allow []string
	// Archives lists the hosts sigil fetches archives from (the outbound
	// policy's archive hosts), as Allow writes them. One that is also in
	// Allow is intercepted, never tunnelled, whether or not metadata named
	// it lately. Default: none.
	Archives []string
	// NonProxy answers requests that are not proxy requests (an
	// origin-form target such as "GET /composer/packages.json") and plain
	// proxy requests addressed to sigil's own listening address. Default:
	// 404.
	NonProxy http.Handler
	// Wrap wraps the handler of requests inside intercepted connections,
	// which sigil's listener does not see one by one: what the listener's
	// handler is wrapped in (sigil's metadata budget). Default: none.
	Wrap func(http.Handler) http.Handler
	// Dial connects tunnels and plain requests to allowed targets.
	// Default: a net.Dialer with a 15-second timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives a line for every refusal, pass-through and
	// failure. Default: discard.
	Logger *slog.Logger
	// Metrics counts, under the front "forward", what the Proxy answers
	// itself: each tunnel (a CONNECT when its target answered the dial or
	// did not, a plain request with the target's status) and each
	// refusal, inside intercepted connections too. The requests a front
	// answers are the front's to count. Default: none.
	Metrics *proxy.Metrics
}

// metricsFront is the front Config.Metrics counts the Proxy's own answers
// under.
const metricsFront = "forward"

// Proxy is sigil's forward proxy (see the package doc). It serves the
// intercepted connections on a server of its own: Close or Shutdown it
// when done.
type Proxy struct {
	ca        *certs.CA
	upstreams map[string][]*upstream // by origin, longest base path first
	archives  []Archives
	allow     map[string]bool // "host:port"
	archive   map[string]bool // "host:port": archive hosts, never tunnelled
	warned    sync.Map        // "host:port" → true: warnLearnedAllowed said it
	nonProxy  http.Handler
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	log       *slog.Logger
	metrics   *proxy.Metrics

	gp   *goproxy.ProxyHttpServer
	mitm *mitmServer
}

var _ http.Handler = (*Proxy)(nil)

// New checks cfg and returns a running Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.CA == nil {
		return nil, errors.New("forward: Config.CA is required")
	}
	p := &Proxy{
		ca:        cfg.CA,
		upstreams: map[string][]*upstream{},
		allow:     map[string]bool{},
		archive:   map[string]bool{},
		nonProxy:  cfg.NonProxy,
		dial:      cfg.Dial,
		log:       cfg.Logger,
		metrics:   cfg.Metrics,
	}
	for i := range cfg.Upstreams {
		up := &cfg.Upstreams[i]
		if up.URL == nil || up.Front == nil {
			return nil, errors.New("forward: an Upstream needs URL and Front")
		}
		origin, ok := urlOrigin(up.URL)
		if !ok {
			return nil, fmt.Errorf("forward: upstream %q is not an absolute http or https URL", up.URL.Redacted())
		}
		u := &upstream{Upstream: up, base: strings.TrimSuffix(up.URL.EscapedPath(), "/")}
		for _, other := range p.upstreams[origin] {
			if other.base == u.base {
				// Which front should answer would be a guess.
				return nil, fmt.Errorf("forward: two upstreams at %s%s: their requests cannot be told apart (give them different hosts or paths)", origin, u.base)
			}
		}
		// One origin may serve several registries under different paths
		// (a repository manager); the longest base path is tried first.
		list := append(p.upstreams[origin], u)
		slices.SortStableFunc(list, func(a, b *upstream) int { return len(b.base) - len(a.base) })
		p.upstreams[origin] = list
		if a, ok := up.Front.(Archives); ok {
			p.archives = append(p.archives, a)
		}
	}
	for _, a := range cfg.Allow {
		hps, err := parseAllow(a)
		if err != nil {
			return nil, fmt.Errorf("forward: allowed host %q: %w", a, err)
		}
		for _, hp := range hps {
			p.allow[hp] = true
		}
	}
	for _, a := range cfg.Archives {
		hps, err := parseAllow(a)
		if err != nil {
			return nil, fmt.Errorf("forward: archive host %q: %w", a, err)
		}
		for _, hp := range hps {
			p.archive[hp] = true
		}
	}
	if p.nonProxy == nil {
		p.nonProxy = http.NotFoundHandler()
	}
	if p.dial == nil {
		d := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
		p.dial = d.DialContext
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.gp = p.newGoproxy()
	p.mitm = newMITMServer(p, cfg.Wrap)
	return p, nil
}

// newGoproxy configures goproxy for CONNECT handshakes, tunnels and plain
// requests to allowed hosts. Its defaults are not ours: its transport
// skips TLS verification and both it and its CONNECT dialer follow the
// HTTP(S)_PROXY variables, which in CI point at sigil itself. Everything it
// dials goes through dialAllowed instead.
func (p *Proxy) newGoproxy() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = printfLogger{p.log}
	gp.NonproxyHandler = p.nonProxy
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = func(req *http.Request, network, addr string) (net.Conn, error) {
		// Only an accepted CONNECT (a tunnel) dials here: goproxy
		// answers 200 when it connected, 502 when it did not.
		c, err := p.dialAllowed(req.Context(), network, addr)
		if err != nil {
			p.metrics.Count(metricsFront, http.StatusBadGateway)
		} else {
			p.metrics.Count(metricsFront, http.StatusOK)
		}
		return c, err
	}
	gp.Tr = &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dialAllowed,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}
	gp.OnRequest().HandleConnectFunc(p.handleConnect)
	gp.OnRequest().DoFunc(p.checkPlain)
	return gp
}

// ServeHTTP dispatches a request on sigil's listener.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		p.gp.ServeHTTP(w, r) // handleConnect decides
	case !r.URL.IsAbs():
		p.nonProxy.ServeHTTP(w, r)
	default:
		p.servePlain(w, r)
	}
}

// Close stops serving intercepted connections, closing them.
func (p *Proxy) Close() error { return p.mitm.srv.Close() }

// Shutdown stops serving intercepted connections once their requests are
// answered, or when ctx ends. Tunnels are not tracked: they end with the
// process or their peers.
func (p *Proxy) Shutdown(ctx context.Context) error { return p.mitm.srv.Shutdown(ctx) }

// servePlain answers an absolute-URL proxy request ("GET http://host/…").
func (p *Proxy) servePlain(w http.ResponseWriter, r *http.Request) {
	if r.URL.Scheme != "http" {
		// Clients reach https URLs with CONNECT; a proxy that fetched
		// them on request would do TLS on the client's behalf unseen.
		p.refuse(w, r, decision{status: http.StatusBadRequest, target: r.URL.Host,
			reason: "only http URLs are proxied this way; https goes through CONNECT"})
		return
	}
	d := p.decide(r.Context(), "http", r.URL.Host)
	switch d.action {
	case actSelf:
		p.nonProxy.ServeHTTP(w, originForm(r))
	case actIntercept:
		p.serveIntercepted(w, r.WithContext(context.WithValue(r.Context(), originKey{}, d.origin)))
	case actTunnel:
		p.metrics.Serve(metricsFront, w, func(w http.ResponseWriter) bool {
			p.gp.ServeHTTP(w, r) // goproxy forwards it untouched, through dialAllowed
			return true
		})
	default:
		p.refuse(w, r, d)
	}
}

// originForm is r as a non-proxy request for sigil's own routes.
func originForm(r *http.Request) *http.Request {
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	r2.RequestURI = r2.URL.RequestURI()
	return r2
}

// checkPlain is goproxy's request handler. Only plain requests to allowed
// targets reach goproxy (servePlain decided); deciding again here keeps
// that true if the dispatch above ever changes.
func (p *Proxy) checkPlain(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	if d := p.decide(r.Context(), "http", r.URL.Host); d.action != actTunnel {
		return r, goproxy.NewResponse(r, goproxy.ContentTypeText, http.StatusForbidden, refusalLine(r.Method, d))
	}
	return r, nil
}

// handleConnect decides a CONNECT before any connection is made.
func (p *Proxy) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	r := ctx.Req
	d := p.decide(r.Context(), "https", host)
	switch d.action {
	case actIntercept:
		p.log.Debug("forward: intercepting", "target", d.hostport, "client", r.RemoteAddr)
		return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: p.mitm.hijack(d)}, d.hostport
	case actTunnel:
		p.log.Debug("forward: tunnelling an allowed host", "target", d.hostport, "client", r.RemoteAddr)
		return &goproxy.ConnectAction{Action: goproxy.ConnectAccept}, d.hostport
	}
	if d.action == actSelf {
		d = decision{status: http.StatusBadRequest, target: host,
			reason: "that is sigil itself, which serves its mirror routes over plain HTTP"}
	}
	p.logRefusal(r, d)
	p.metrics.Count(metricsFront, d.status)
	resp := goproxy.NewResponse(r, goproxy.ContentTypeText+"; charset=utf-8", d.status, refusalLine(r.Method, d))
	resp.Header.Set("Connection", "close")
	ctx.Resp = resp
	return goproxy.RejectConnect, host
}

// refuse answers a plain proxy request that is not let through.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, d decision) {
	p.logRefusal(r, d)
	p.metrics.Count(metricsFront, d.status)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Connection", "close")
	w.WriteHeader(d.status)
	fmt.Fprint(w, refusalLine(r.Method, d))
}

func (p *Proxy) logRefusal(r *http.Request, d decision) {
	p.log.Warn("forward: refused", "method", r.Method, "target", d.target, "reason", d.reason, "client", r.RemoteAddr)
}

// refusalLine is the one line a refused client gets.
func refusalLine(method string, d decision) string {
	return "sigil: refused " + method + " " + oneLine(d.target) + ": " + d.reason + "\n"
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// dialAllowed dials addr only if it is an allowed target: the one place
// where the Proxy connects anywhere on a client's behalf.
func (p *Proxy) dialAllowed(ctx context.Context, network, addr string) (net.Conn, error) {
	hp, _, ok := canonicalTarget(addr, "")
	if !ok || !p.allow[hp] {
		return nil, fmt.Errorf("forward: %s is not an allowed host; no connection made", addr)
	}
	return p.dial(ctx, network, hp)
}

// printfLogger routes goproxy's printf logging to slog. goproxy prefixes
// warnings with "WARN:"; the rest is chatter for debugging.
type printfLogger struct{ l *slog.Logger }

func (g printfLogger) Printf(format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	if strings.Contains(msg, "WARN:") {
		g.l.Warn("forward: goproxy: " + msg)
		return
	}
	g.l.Debug("forward: goproxy: " + msg)
}

package forward

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/sigilproxy/sigil/proxy"
)

// Intercepted connections are served by one http.Server of the Proxy's
// own, fed by the CONNECT handler through an in-memory listener, rather
// than by goproxy's request loop: net/http then does what a server must
// (keep-alive, HEAD, ranges, streaming a large archive with bounded
// memory, timeouts on slow clients), and the fronts get an ordinary
// ResponseWriter, as in mirror mode.

// originKey is the context key of the origin a request was made to: the
// CONNECT target of its connection, or the host of a plain proxy request.
type originKey struct{}

// mitmServer serves intercepted TLS connections.
type mitmServer struct {
	p       *Proxy
	srv     *http.Server
	ln      *chanListener
	origins sync.Map // *tls.Conn → origin, until the server picks the conn up
}

// Timeouts of intercepted connections, the same as sigil's listener: a
// slow client that holds headers (or a TLS handshake) open is cut off;
// there is no write timeout, since archives can be large and clients slow.
const (
	mitmReadHeaderTimeout = 10 * time.Second
	mitmIdleTimeout       = 2 * time.Minute
)

func newMITMServer(p *Proxy, wrap func(http.Handler) http.Handler) *mitmServer {
	m := &mitmServer{p: p, ln: newChanListener()}
	var h http.Handler = http.HandlerFunc(p.serveIntercepted)
	if wrap != nil {
		h = wrap(h)
	}
	m.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: mitmReadHeaderTimeout,
		IdleTimeout:       mitmIdleTimeout,
		// A handshake that fails is most often a client that does not
		// trust sigil's CA: worth a line.
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if o, ok := m.origins.LoadAndDelete(c); ok {
				return context.WithValue(ctx, originKey{}, o)
			}
			return ctx
		},
	}
	go m.srv.Serve(m.ln) // returns when srv is closed
	return m
}

// hijack returns goproxy's hijack function for an intercepted CONNECT: it
// answers 200, wraps the client's connection in TLS with a leaf for the
// target, and hands it to the server.
func (m *mitmServer) hijack(d decision) func(*http.Request, net.Conn, *goproxy.ProxyCtx) {
	return func(r *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
		leaf, err := m.p.ca.Leaf(d.host)
		if err != nil {
			// Permits passed, so the CA itself failed (it expired).
			m.p.log.Error("forward: minting a certificate failed", "target", d.hostport, "err", err)
			msg := refusalLine(http.MethodConnect, decision{target: d.hostport, reason: "sigil could not mint a certificate: " + err.Error()})
			fmt.Fprintf(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
			client.Close()
			return
		}
		if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			client.Close()
			return
		}
		tc := tls.Server(client, &tls.Config{
			// The leaf is the CONNECT target's, whatever name the client
			// sends in SNI: a client connecting to an IP address sends
			// none, and one that sends another name is refused by its own
			// certificate check.
			Certificates: []tls.Certificate{*leaf},
			// HTTP/1.1 only: every package manager speaks it, and one
			// protocol is one less to get right.
			NextProtos: []string{"http/1.1"},
			MinVersion: tls.VersionTLS12,
		})
		m.origins.Store(tc, d.origin)
		if !m.ln.push(tc) {
			m.origins.Delete(tc)
			tc.Close()
		}
	}
}

// serveIntercepted answers a request made to an intercepted origin.
func (p *Proxy) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	origin, ok := r.Context().Value(originKey{}).(string)
	if !ok {
		p.metrics.Count(metricsFront, http.StatusInternalServerError)
		http.Error(w, "sigil: a connection without a target", http.StatusInternalServerError)
		return
	}
	if !sameOrigin(r.Host, origin) {
		// The connection was decided for origin; a request for another
		// host on it would route around that decision.
		p.metrics.Count(metricsFront, http.StatusMisdirectedRequest)
		http.Error(w, "sigil: this connection is for "+origin+", not for "+oneLine(r.Host), http.StatusMisdirectedRequest)
		return
	}
	for _, up := range p.upstreams[origin] {
		if up.routes(r) {
			up.Front.ServeHTTP(w, r)
			return
		}
	}
	u := origin + r.URL.RequestURI()
	for _, a := range p.archives {
		if a.ServeArchiveURL(w, r, u) {
			return
		}
	}
	p.unknownURL(w, r, u)
}

// routes reports whether up's front answers r: what it says it routes,
// or, when it does not say, every path under its base path.
func (up *upstream) routes(r *http.Request) bool {
	p := r.URL.EscapedPath()
	if rt, ok := up.Front.(Router); ok {
		return rt.Routes(p)
	}
	return up.base == "" || p == up.base || strings.HasPrefix(p, up.base+"/")
}

// unknownURL answers a URL on an intercepted host that no served metadata
// named: refused, in warn mode as in enforce. Passing it through would make
// every host that any metadata named a door for any path, with the
// client's credentials; warn mode relaxes verdicts, not where sigil goes.
//
// The URL is named without its query, in the log and to the client: a
// query may carry a token, and both end up in logs that more people read.
func (p *Proxy) unknownURL(w http.ResponseWriter, r *http.Request, u string) {
	shown := proxy.RedactURL(u)
	p.log.Warn("forward: refused a URL that no metadata sigil served names", "method", r.Method, "url", shown, "client", r.RemoteAddr)
	p.metrics.Count(metricsFront, http.StatusNotFound)
	msg := "sigil has not seen metadata naming " + oneLine(shown) + ", so it cannot verify it and refuses it. " +
		"hint: an install from a lock file works only through a sigil that served the metadata naming its archives; " +
		"let the metadata pass through sigil first (composer update --lock does, and keeps the locked versions)"
	writeJSONError(w, http.StatusNotFound, msg)
}

// writeJSONError answers {"warning": msg, "error": msg}: Composer prints
// "warning" of a JSON error response, npm prints "error".
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(msg) // a string always encodes
	h := w.Header()
	h.Set("Content-Type", "application/json") // exactly: Composer compares it byte for byte
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"warning":%s,"error":%s}`+"\n", b, b)
}

// chanListener is a net.Listener whose connections are pushed to it.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to Accept; false when the listener is closed.
func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return chanAddr{} }

type chanAddr struct{}

func (chanAddr) Network() string { return "intercepted" }
func (chanAddr) String() string  { return "intercepted connections" }

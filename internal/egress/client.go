package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// maxRedirects is how many redirects one fetch follows (net/http's own
// default).
const maxRedirects = 10

var (
	// ErrStalled fails the read of a body that sent nothing for the idle
	// timeout.
	ErrStalled = errors.New("the upstream stopped sending")
	// ErrDeadline fails a request that is not done by the total deadline.
	ErrDeadline = errors.New("the upstream took longer than the deadline")
)

// Client returns an HTTP client that fetches only what the policy allows
// (see the package doc). Clients of one Policy share their connections.
func (p *Policy) Client() *http.Client {
	return &http.Client{Transport: p.transport, CheckRedirect: p.checkRedirect}
}

func (p *Policy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return p.CheckURL(req.URL)
}

// transport checks every request's URL, then bounds its time.
type transport struct {
	p    *Policy
	base http.RoundTripper
}

func (p *Policy) newTransport() *transport {
	return &transport{p: p, base: Transport(p.dialContext, p.tls)}
}

// Transport is the one set of connection bounds of sigil's upstream
// requests (setup, time to first byte, idle connections), dialling
// through dial and trusting tlsConfig (nil: the system roots). It never
// uses HTTP(S)_PROXY (see the package doc). Policy.Client builds on it;
// so does the policy-less default client of package proxy, so that the
// two cannot drift apart.
func Transport(dial func(ctx context.Context, network, addr string) (net.Conn, error), tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.p.CheckURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip's contract, also on error
		}
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(req.Context(), t.p.deadline,
		fmt.Errorf("%w of %s", ErrDeadline, t.p.deadline))
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if c := context.Cause(ctx); errors.Is(c, ErrDeadline) {
			return nil, c
		}
		return nil, err
	}
	resp.Body = newWatchedBody(ctx, resp.Body, cancel, t.p.idle)
	return resp, nil
}

// watchedBody fails a read when the body stalls for idle, or when the
// request's deadline passes, with an error that says which.
type watchedBody struct {
	rc      io.ReadCloser
	ctx     context.Context
	cancel  context.CancelFunc
	idle    time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

func newWatchedBody(ctx context.Context, rc io.ReadCloser, cancel context.CancelFunc, idle time.Duration) *watchedBody {
	b := &watchedBody{rc: rc, ctx: ctx, cancel: cancel, idle: idle}
	// Cancelling the request's context is what unblocks a read waiting
	// on the network.
	b.timer = time.AfterFunc(idle, func() {
		b.stalled.Store(true)
		cancel()
	})
	return b
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && !b.stalled.Load() {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		switch {
		case b.stalled.Load():
			err = fmt.Errorf("%w: no byte for %s", ErrStalled, b.idle)
		case errors.Is(context.Cause(b.ctx), ErrDeadline):
			err = context.Cause(b.ctx)
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

// DialContext is the policy's dial for connections that are not HTTP
// requests of its Client (forward mode's tunnels to --allow-host): the
// same checks, by name and on every resolved address.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.dialContext(ctx, network, addr)
}

// dialContext connects to addr ("host:port" from the URL) only if the
// policy allows it: by name first, then every address it resolves to,
// before connecting and again in the dialer's Control hook on the
// address the socket is about to connect to.
func (p *Policy) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &Refused{Host: addr, Rule: "not a host and port"}
	}
	named, err := p.checkHost(host, port)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = p.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	portNum, _ := strconv.Atoi(port) // checked by checkHost
	d := net.Dialer{
		Timeout:   15 * time.Second,
		KeepAlive: 30 * time.Second,
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &Refused{Host: addr, Rule: "dialled an address that is not one: " + address}
			}
			return p.checkAddr(addr, ap.Addr(), port, named)
		},
	}
	var refused, last error
	for _, a := range addrs {
		if err := p.checkAddr(addr, a, port, named); err != nil {
			refused = err
			continue
		}
		c, err := d.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(portNum)).String())
		if err == nil {
			return c, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case last != nil:
		return nil, last
	case refused != nil:
		return nil, refused
	}
	return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
}

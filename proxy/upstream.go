package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sigilproxy/sigil/cache"
)

// DefaultMaxDocumentSize bounds an upstream metadata document when
// UpstreamConfig.MaxSize is zero. The largest Composer p2 documents and npm
// packuments (with every version's readme stripped, as the abbreviated
// format has) are a few megabytes; 64 MiB is the cache's own limit.
const DefaultMaxDocumentSize = 64 << 20

// DefaultMaxStoredDocument is UpstreamConfig.MaxStored when zero. Storing
// a document takes a few copies of it in memory at once (Badger writes a
// value whole, through a buffer of its own), which a burst of huge
// documents cannot afford; the documents clients ask for are far smaller
// (npm's abbreviated packuments, Composer's p2 files).
const DefaultMaxStoredDocument = 16 << 20

// DefaultDocumentTimeout bounds one metadata fetch when
// UpstreamConfig.Timeout is zero: an upstream that hangs must not hang an
// install, and after it the cached copy is served.
const DefaultDocumentTimeout = 60 * time.Second

// UpstreamConfig configures an HTTPUpstream. Only Cache is required.
type UpstreamConfig struct {
	// Client makes the requests. Default: UpstreamClient(nil).
	Client *http.Client
	// Cache keeps the last copy of every document with its validators.
	Cache MetaStore
	// MaxSize bounds a document's body. Default: DefaultMaxDocumentSize.
	MaxSize int64
	// MaxStored bounds the documents kept in the cache: a larger one is
	// served, but fetched whole every time, and not served stale when the
	// upstream fails. Default: DefaultMaxStoredDocument.
	MaxStored int64
	// Timeout bounds one fetch, from request to the body's last byte.
	// Default: DefaultDocumentTimeout.
	Timeout time.Duration
	// Logger receives a line for every stale copy served. Default:
	// discarded.
	Logger *slog.Logger
	// Budget bounds the document bytes held at once across requests (see
	// MetadataBudget). Default: nil, no bound.
	Budget *MetadataBudget
}

// HTTPUpstream fetches metadata documents through the cache (see Upstream):
// it revalidates the cached copy with the upstream's validators
// (If-None-Match, If-Modified-Since) and serves it, marked Stale, when the
// upstream cannot be reached or fails (5xx, 429). Concurrent fetches of one
// URL share one request.
//
// It stores what the upstream sent, not what was served: the fronts decide
// every version again on every use, so a cached document never carries a
// verdict.
type HTTPUpstream struct {
	client  *http.Client
	cache   MetaStore
	maxSize int64
	maxKept int64
	timeout time.Duration
	log     *slog.Logger
	budget  *MetadataBudget
	now     func() time.Time
	group   singleflight.Group

	// reachMu guards reach: what each origin's last answers were, for the
	// health check.
	reachMu sync.Mutex
	reach   map[string]*reach
}

// maxReachOrigins bounds the origins the health check follows. Documents
// come from the configured upstreams and the few API hosts their root
// documents name.
const maxReachOrigins = 32

var _ Upstream = (*HTTPUpstream)(nil)

// NewHTTPUpstream returns an HTTPUpstream. It does no I/O.
func NewHTTPUpstream(cfg UpstreamConfig) (*HTTPUpstream, error) {
	if cfg.Cache == nil {
		return nil, errors.New("proxy: UpstreamConfig.Cache is required")
	}
	u := &HTTPUpstream{
		client:  cfg.Client,
		cache:   cfg.Cache,
		maxSize: cfg.MaxSize,
		maxKept: cfg.MaxStored,
		timeout: cfg.Timeout,
		log:     cfg.Logger,
		budget:  cfg.Budget,
		now:     time.Now,
	}
	if u.client == nil {
		u.client = UpstreamClient(nil)
	}
	if u.maxSize <= 0 {
		u.maxSize = DefaultMaxDocumentSize
	}
	if u.maxKept <= 0 {
		u.maxKept = DefaultMaxStoredDocument
	}
	if u.timeout <= 0 {
		u.timeout = DefaultDocumentTimeout
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	return u, nil
}

// UpstreamClient returns an HTTP client for upstream registries and archive
// hosts: bounded connection setup and time to first byte, no bound on the
// whole body (archives can be large; callers bound documents themselves),
// and tlsConfig (nil: the system roots) for a private upstream's CA.
//
// It ignores HTTP_PROXY and HTTPS_PROXY: a CI runner that points its
// package manager at sigil through those variables would otherwise make
// sigil send its own upstream requests to itself.
func UpstreamClient(tlsConfig *tls.Config) *http.Client {
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}}
}

// Document returns the document at url (see Upstream). The caller owns the
// returned Body.
func (u *HTTPUpstream) Document(ctx context.Context, url string) (*Document, error) {
	// The fetch is shared, so it must not end when the first caller goes
	// away; u.timeout bounds it instead. It charges the bytes it holds to
	// the request that led it (the context keeps its values); every other
	// request charges its own copy.
	led := false
	ch := u.group.DoChan(url, func() (any, error) {
		led = true
		return u.fetch(context.WithoutCancel(ctx), url)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		d := *r.Val.(*Document)
		if r.Shared {
			if !led {
				if err := chargeRequest(ctx, int64(len(d.Body))); err != nil {
					return nil, fmt.Errorf("upstream document %s: %w", url, err)
				}
			}
			d.Body = bytes.Clone(d.Body)
		}
		return &d, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (u *HTTPUpstream) fetch(ctx context.Context, url string) (*Document, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()

	cached, err := u.cache.GetMeta(ctx, url)
	have := err == nil
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		// A broken cache must not stop a fetch from upstream.
		u.log.Warn("proxy: reading cached metadata failed; fetching without it", "url", url, "err", err)
	}
	if have {
		if err := chargeRequest(ctx, int64(len(cached.Body))); err != nil {
			return nil, fmt.Errorf("upstream document %s: %w", url, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("upstream document %s: %w", url, err)
	}
	if have {
		if cached.ETag != "" {
			req.Header.Set("If-None-Match", cached.ETag)
		}
		if cached.LastModified != "" {
			req.Header.Set("If-Modified-Since", cached.LastModified)
		}
	}
	resp, err := u.client.Do(req)
	if err != nil {
		if up, ok := upstreamFailure(url, err).(*UpstreamError); ok {
			u.reachOf(req.URL).fail(u.now(), "cannot be reached")
			return u.stale(have, cached, up)
		}
		// The fetch policy refused: not an outage, which an old copy
		// would hide.
		return nil, upstreamFailure(url, err)
	}
	defer drainClose(resp.Body)
	if st := resp.StatusCode; st >= 500 || st == http.StatusTooManyRequests {
		u.reachOf(req.URL).fail(u.now(), fmt.Sprintf("answers HTTP %d %s", st, http.StatusText(st)))
	} else {
		u.reachOf(req.URL).ok(u.now())
	}

	switch st := resp.StatusCode; {
	case st == http.StatusOK:
		body, err := readBody(ctx, resp.Body, u.maxSize, resp.ContentLength)
		if errors.Is(err, ErrBusy) {
			return nil, fmt.Errorf("upstream document %s: %w", url, err)
		}
		if errors.Is(err, errTooLarge) {
			// The document really is that large: an old copy would only
			// hide it.
			return nil, &UpstreamError{URL: url, Status: st, Err: err}
		}
		if err != nil {
			return u.stale(have, cached, &UpstreamError{URL: url, Status: st, Err: err})
		}
		m := cache.Meta{Body: body, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), FetchedAt: u.now()}
		if int64(len(body)) > u.maxKept {
			u.log.Debug("proxy: document too large to keep in the cache", "url", url, "bytes", len(body), "max", u.maxKept)
		} else if err := u.cache.PutMeta(ctx, url, m); err != nil {
			// The document is good; only the next outage will miss it.
			u.log.Warn("proxy: storing metadata failed", "url", url, "err", err)
		}
		return &Document{Body: body, ETag: m.ETag, LastModified: m.LastModified}, nil
	case st == http.StatusNotModified && have:
		return &Document{Body: cached.Body, ETag: cached.ETag, LastModified: cached.LastModified}, nil
	case st == http.StatusNotFound || st == http.StatusGone:
		return nil, fmt.Errorf("%s: %w", url, ErrNotFound)
	case st >= 500 || st == http.StatusTooManyRequests:
		return u.stale(have, cached, &UpstreamError{URL: url, Status: st, Err: errors.New("upstream failed")})
	default:
		return nil, &UpstreamError{URL: url, Status: st, Err: errors.New("unexpected answer")}
	}
}

// stale returns the cached copy, marked Stale, when there is one, and err
// otherwise.
func (u *HTTPUpstream) stale(have bool, m cache.Meta, err *UpstreamError) (*Document, error) {
	if !have {
		return nil, err
	}
	u.log.Warn("proxy: upstream unavailable; serving the cached copy", "url", err.URL, "fetched_at", m.FetchedAt, "err", err)
	return &Document{Body: m.Body, ETag: m.ETag, LastModified: m.LastModified, Stale: true}, nil
}

var errTooLarge = errors.New("larger than the configured limit")

// readBody reads r to its end, or fails with errTooLarge beyond max bytes.
// It charges the memory it allocates to the request ctx belongs to (see
// MetadataBudget) before allocating it, and allocates once when the
// upstream said how long the body is (contentLength, -1 when unknown):
// reading a large document must not hold several copies of it.
func readBody(ctx context.Context, r io.Reader, max, contentLength int64) ([]byte, error) {
	if contentLength > max {
		return nil, fmt.Errorf("body %w of %d bytes (Content-Length %d)", errTooLarge, max, contentLength)
	}
	size := int64(64 << 10)
	if contentLength >= 0 {
		// One byte more, to see the end without growing.
		size = contentLength + 1
	}
	if err := chargeRequest(ctx, size); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > max {
				return nil, fmt.Errorf("body %w of %d bytes", errTooLarge, max)
			}
			grown := min(int64(cap(buf))*2, max+1)
			if err := chargeRequest(ctx, grown); err != nil {
				return nil, err
			}
			buf = append(make([]byte, 0, grown), buf...)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > max {
		return nil, fmt.Errorf("body %w of %d bytes", errTooLarge, max)
	}
	return buf, nil
}

// drainClose reads a little of what is left so that the connection can be
// reused, then closes.
func drainClose(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	rc.Close()
}

// reachOf returns the record of u's origin, or a throwaway one beyond
// maxReachOrigins.
func (u *HTTPUpstream) reachOf(url *neturl.URL) *reach {
	origin := url.Scheme + "://" + url.Host
	u.reachMu.Lock()
	defer u.reachMu.Unlock()
	if r, ok := u.reach[origin]; ok {
		return r
	}
	r := &reach{}
	if u.reach == nil {
		u.reach = map[string]*reach{}
	}
	if len(u.reach) < maxReachOrigins {
		u.reach[origin] = r
	}
	return r
}

// HealthChecks reports each upstream origin sigil fetched documents from,
// as "upstream ORIGIN": degraded when its last answer was none, a 5xx or
// a 429 (cached copies are then served).
func (u *HTTPUpstream) HealthChecks(context.Context) map[string]Check {
	u.reachMu.Lock()
	defer u.reachMu.Unlock()
	out := make(map[string]Check, len(u.reach))
	for origin, r := range u.reach {
		out["upstream "+origin] = r.check()
	}
	return out
}

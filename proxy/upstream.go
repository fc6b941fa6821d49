package proxy

import (
	"context"
	"crypto/sha256"
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
	"github.com/sigilproxy/sigil/internal/egress"
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

// DefaultMetadataMaxAge is how long a stored upstream document is used
// without asking the upstream when UpstreamConfig.MaxAge is zero: an
// install reads each document once or twice within it, and a release
// published upstream reaches clients within about that long. Verdicts do
// not age with it: every request checks them against the log's current
// evidence.
const DefaultMetadataMaxAge = 5 * time.Minute

// DefaultRefreshes bounds the background refreshes of stale documents
// running at once when UpstreamConfig.Refreshes is zero.
const DefaultRefreshes = 4

// retryAfterFailure is how long a document whose refresh failed is served
// as it is before the upstream is asked again: an upstream that is down is
// not asked once per request.
const retryAfterFailure = 30 * time.Second

// UpstreamConfig configures an HTTPUpstream. Only Cache is required.
type UpstreamConfig struct {
	// Client makes the requests. Default: UpstreamClient(nil).
	Client *http.Client
	// Cache keeps the last copy of every document with its validators.
	Cache MetaStore
	// MaxSize bounds a document's body. Default: DefaultMaxDocumentSize.
	MaxSize int64
	// MaxStored bounds the documents kept in the cache. A larger one is
	// kept in a file of FileDir while the process runs (see docFiles);
	// without FileDir, it is fetched whole every time, and not served
	// stale when the upstream fails. Default: DefaultMaxStoredDocument.
	MaxStored int64
	// FileDir is where the documents over MaxStored are kept, in a
	// directory "sigil-documents-*" made in it; "" keeps none. FileBytes
	// bounds them (Default: DefaultDocumentFileBytes).
	FileDir   string
	FileBytes int64
	// Timeout bounds one fetch, from request to the body's last byte.
	// Default: DefaultDocumentTimeout.
	Timeout time.Duration
	// MaxAge is how long a stored document is used without asking the
	// upstream. An older one is still served at once, and refreshed in
	// the background. Default (0): DefaultMetadataMaxAge. Negative: every
	// request asks the upstream and waits for it.
	MaxAge time.Duration
	// Refreshes bounds the background refreshes running at once; a stale
	// document asked for while the bound is reached is served as it is
	// and refreshed on a later request. Default: DefaultRefreshes.
	Refreshes int
	// MemoryBytes bounds the documents kept in memory, in front of Cache,
	// so that a fresh document costs no read of the store. A document
	// larger than an eighth of it is read from Cache each time. Default:
	// DefaultMemoryDocuments.
	MemoryBytes int64
	// Logger receives a line when the upstream of a stored document fails
	// and when it is back. Default: discarded.
	Logger *slog.Logger
	// Budget bounds the document bytes held at once across requests (see
	// MetadataBudget). Default: nil, no bound.
	Budget *MetadataBudget
	// Metrics counts how documents were answered and upstream latency.
	// Default (nil): nothing is counted.
	Metrics *Metrics
}

// DefaultMemoryDocuments is UpstreamConfig.MemoryBytes' default: room for
// the few hundred small documents of an install. A warm request served from
// a kept rendered document needs only the upstream document's digest and
// age from here; a document read from Cache instead costs a copy and a
// hash, not a parse. The largest packuments (megabytes each) are read from
// Cache each time rather than crowd out hundreds of small ones.
const DefaultMemoryDocuments = 16 << 20

// HTTPUpstream fetches metadata documents through the cache (see Upstream).
//
// A stored document younger than MaxAge is answered without asking the
// upstream. An older one is answered at once too, and refreshed in the
// background (stale-while-revalidate): one refresh per URL at a time, at
// most Refreshes at once. A client waits for the upstream only for a
// document sigil has never stored (or always, with a negative MaxAge).
// A refresh revalidates with the upstream's validators (If-None-Match,
// If-Modified-Since). A document is written to the cache only when its
// bytes changed; when they did not, only the time it was confirmed moves,
// in memory.
//
// When the upstream cannot be reached or fails (5xx, 429), the stored copy
// is served, marked Stale, until a refresh succeeds. Concurrent fetches of
// one URL share one request.
//
// A document over MaxStored is kept in a file of FileDir instead of the
// cache (docFiles), while the process runs; DocumentLazy answers it
// without reading it, for a front that may need only its digest.
//
// It stores what the upstream sent, not what was served: a stored document
// never carries a verdict, and its age never delays a verdict (the fronts
// check every use against the log's current evidence, and a revocation
// takes effect at once).
type HTTPUpstream struct {
	client  *http.Client
	cache   MetaStore
	maxSize int64
	maxKept int64
	timeout time.Duration
	maxAge  time.Duration
	log     *slog.Logger
	budget  *MetadataBudget
	metrics *Metrics
	now     func() time.Time
	group   singleflight.Group
	mem     *docMemory
	files   *docFiles     // nil without UpstreamConfig.FileDir
	slots   chan struct{} // one per background refresh running
	bg      sync.WaitGroup

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
		maxAge:  cfg.MaxAge,
		log:     cfg.Logger,
		budget:  cfg.Budget,
		metrics: cfg.Metrics,
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
	if u.maxAge == 0 {
		u.maxAge = DefaultMetadataMaxAge
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	n := cfg.Refreshes
	if n <= 0 {
		n = DefaultRefreshes
	}
	u.slots = make(chan struct{}, n)
	mb := cfg.MemoryBytes
	if mb <= 0 {
		mb = DefaultMemoryDocuments
	}
	u.mem = newDocMemory(mb)
	if cfg.FileDir != "" {
		fb := cfg.FileBytes
		if fb <= 0 {
			fb = DefaultDocumentFileBytes
		}
		u.files = newDocFiles(cfg.FileDir, fb)
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
	return &http.Client{Transport: egress.Transport(dialer.DialContext, tlsConfig)}
}

// Document returns the document at url (see Upstream). The returned Body
// may be shared with other callers: nobody changes it.
//
// Bytes sigil reads for the request (from the upstream, or from the
// cache into memory) are charged to its metadata budget; a document kept
// in memory is shared, not copied, and charged to nobody.
func (u *HTTPUpstream) Document(ctx context.Context, url string) (*Document, error) {
	return u.document(ctx, url, false)
}

// DocumentLazy is Document, but the Body of a document kept in a file
// (one over MaxStored, see docFiles) is read only by Document.Load.
func (u *HTTPUpstream) DocumentLazy(ctx context.Context, url string) (*Document, error) {
	return u.document(ctx, url, true)
}

func (u *HTTPUpstream) document(ctx context.Context, url string, lazy bool) (*Document, error) {
	d, err := u.answer(ctx, url)
	if err != nil || lazy {
		return d, err
	}
	if err := d.Load(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (u *HTTPUpstream) answer(ctx context.Context, url string) (*Document, error) {
	e, have, err := u.stored(ctx, url)
	if err != nil {
		return nil, err
	}
	if have && u.maxAge > 0 {
		if u.now().Sub(e.confirmed) < u.maxAge {
			u.metrics.metadataResult("fresh")
		} else {
			u.metrics.metadataResult("stale")
			u.refresh(url)
		}
		return e.document(), nil
	}
	if have {
		u.metrics.metadataResult("revalidated")
	} else {
		u.metrics.metadataResult("miss")
	}
	// The fetch is shared, so it must not end when the first caller goes
	// away; u.timeout bounds it instead. It charges the bytes it reads to
	// the request that led it (the context keeps its values).
	ch := u.group.DoChan(url, func() (any, error) {
		return u.fetch(context.WithoutCancel(ctx), url)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*memDoc).document(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refresh starts a background refresh of url, unless one is running for
// it or the bound on refreshes is reached, or its last one failed less
// than retryAfterFailure ago.
func (u *HTTPUpstream) refresh(url string) {
	if e, ok := u.mem.get(url); ok && u.now().Before(e.retryAt) {
		return
	}
	select {
	case u.slots <- struct{}{}:
	default:
		u.metrics.refreshSkipped()
		return
	}
	u.bg.Add(1)
	go func() {
		defer u.bg.Done()
		defer func() { <-u.slots }()
		// Shared with any request that waits for the same URL.
		u.group.Do(url, func() (any, error) {
			return u.fetch(context.Background(), url)
		})
	}()
}

// stored returns the copy of url kept in memory, or else in the cache.
// A copy read from the cache is charged to the request's budget.
func (u *HTTPUpstream) stored(ctx context.Context, url string) (*memDoc, bool, error) {
	if e, ok := u.mem.get(url); ok {
		return e, true, nil
	}
	m, err := u.cache.GetMeta(ctx, url)
	if err != nil {
		if !errors.Is(err, cache.ErrNotFound) {
			// A broken cache must not stop a fetch from upstream.
			u.log.Warn("proxy: reading cached metadata failed; fetching without it", "url", RedactURL(url), "err", err)
		}
		return nil, false, nil
	}
	if err := chargeRequest(ctx, int64(len(m.Body))); err != nil {
		return nil, false, fmt.Errorf("upstream document %s: %w", RedactURL(url), err)
	}
	e := &memDoc{Document: Document{Body: m.Body, ETag: m.ETag, LastModified: m.LastModified, Sum: sha256.Sum256(m.Body)}, confirmed: m.FetchedAt}
	u.mem.put(url, e)
	return e, true, nil
}

// fetch asks the upstream for url, revalidating the stored copy, and
// returns the copy to serve: the new one, the confirmed old one, or the
// old one marked Stale when the upstream fails.
func (u *HTTPUpstream) fetch(ctx context.Context, url string) (*memDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	defer u.metrics.upstreamTime("metadata", time.Now())

	cached, have, err := u.stored(ctx, url)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("upstream document %s: not a URL sigil can fetch", RedactURL(url)) // err repeats the URL
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
			return u.stale(cached, up)
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
			return nil, fmt.Errorf("upstream document %s: %w", RedactURL(url), err)
		}
		if errors.Is(err, errTooLarge) {
			// The document really is that large: an old copy would only
			// hide it.
			return nil, &UpstreamError{URL: url, Status: st, Err: err}
		}
		if err != nil {
			return u.stale(cached, &UpstreamError{URL: url, Status: st, Err: err})
		}
		e := &memDoc{Document: Document{Body: body, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), Sum: sha256.Sum256(body)}, confirmed: u.now()}
		if have && e.Sum == cached.Sum && e.ETag == cached.ETag && e.LastModified == cached.LastModified {
			// Unchanged: the stored copy stays as it is.
			return u.confirm(url, cached), nil
		}
		u.metrics.metadataResult("fetched")
		if int64(len(body)) > u.maxKept {
			u.keepFile(url, e)
			return e, nil
		}
		m := cache.Meta{Body: body, ETag: e.ETag, LastModified: e.LastModified, FetchedAt: e.confirmed}
		if err := u.cache.PutMeta(ctx, url, m); err != nil {
			// The document is good; only the next outage will miss it.
			u.log.Warn("proxy: storing metadata failed", "url", RedactURL(url), "err", err)
		}
		u.mem.put(url, e)
		return e, nil
	case st == http.StatusNotModified && have:
		return u.confirm(url, cached), nil
	case st == http.StatusNotFound || st == http.StatusGone:
		u.mem.remove(url)
		return nil, fmt.Errorf("%s: %w", RedactURL(url), ErrNotFound)
	case st >= 500 || st == http.StatusTooManyRequests:
		return u.stale(cached, &UpstreamError{URL: url, Status: st, Err: errors.New("upstream failed")})
	default:
		return nil, &UpstreamError{URL: url, Status: st, Err: errors.New("unexpected answer")}
	}
}

// keepFile keeps e, a document too large for the cache, in a file
// (docFiles), and in memory without its body; without files, it is
// fetched again on the next request.
func (u *HTTPUpstream) keepFile(url string, e *memDoc) {
	if u.files == nil {
		u.log.Debug("proxy: document too large to keep in the cache", "url", RedactURL(url), "bytes", len(e.Body), "max", u.maxKept)
		return
	}
	// A copy stored while the document was smaller must not come back
	// when the file goes.
	if err := u.cache.DeleteMeta(context.Background(), url); err != nil {
		u.log.Warn("proxy: removing the stored copy of a document now too large for the cache failed", "url", RedactURL(url), "err", err)
	}
	path, err := u.files.put(url, e.Body)
	if err != nil {
		// The document is good; it is fetched again next time.
		u.log.Warn("proxy: keeping a large document in a file failed", "url", RedactURL(url), "err", err)
	}
	if path == "" {
		u.mem.remove(url)
		return
	}
	kept := &memDoc{Document: e.Document, confirmed: e.confirmed, file: path}
	kept.Body = nil
	kept.load = u.fileLoader(url, path, e.Sum, int64(len(e.Body)))
	u.mem.put(url, kept)
}

// confirm records that the upstream still has the stored copy e of url.
func (u *HTTPUpstream) confirm(url string, e *memDoc) *memDoc {
	if e.Stale {
		u.log.Info("proxy: upstream answers again", "url", RedactURL(url))
	}
	n := &memDoc{Document: e.Document, confirmed: u.now(), file: e.file}
	n.Stale = false
	u.mem.put(url, n)
	return n
}

// stale returns the stored copy, marked Stale, when there is one, and err
// otherwise. The first failure after a success is logged.
func (u *HTTPUpstream) stale(e *memDoc, err *UpstreamError) (*memDoc, error) {
	if e == nil {
		return nil, err
	}
	u.metrics.metadataResult("offline")
	if !e.Stale {
		u.log.Warn("proxy: upstream unavailable; serving the stored copy", "url", RedactURL(err.URL), "confirmed_at", e.confirmed, "err", err)
	}
	n := &memDoc{Document: e.Document, confirmed: e.confirmed, retryAt: u.now().Add(retryAfterFailure), file: e.file}
	n.Stale = true
	u.mem.put(err.URL, n)
	return n, nil
}

var errTooLarge = errors.New("larger than the configured limit")

// ReadBody reads an upstream's answer r to its end, at most max bytes,
// charging the memory to the request ctx belongs to (see MetadataBudget)
// as readBody does: for the answers a front passes through rather than
// fetches as documents. An answer larger than max is an error; so is no
// room in the budget (ErrBusy).
func ReadBody(ctx context.Context, r io.Reader, max, contentLength int64) ([]byte, error) {
	return readBody(ctx, r, max, contentLength)
}

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

package front

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/sigilproxy/sigil/internal/scratch"
	"github.com/sigilproxy/sigil/proxy"
)

// RenderedEntries and RenderedBytes bound the served documents a front
// keeps in memory: those of a few installs' worth of packages (served
// documents are mostly tens of kilobytes; the largest go to files, see
// SpillBytes). Every warm request is served from here, so this bound,
// unlike Parsed's, must hold a whole install.
const (
	RenderedEntries = 4096
	RenderedBytes   = 32 << 20
)

// SpillBytes and SpilledBytes are for a Rendered with a directory: a body
// larger than SpillBytes is kept in a file there rather than in memory
// (the largest packuments are tens of megabytes each, and served from a
// file with sendfile), and the files take at most about SpilledBytes.
const (
	SpillBytes   = 1 << 20
	SpilledBytes = 1 << 30
)

// Rendition is a document a front built for a client: its body and the
// headers that go with it. Nothing changes it once made.
type Rendition struct {
	Body         []byte
	ContentType  string
	CacheControl string
	// Header holds the front's own headers (X-Sigil-Verdict,
	// npm-notice), set on every answer with this body.
	Header http.Header
	// Extra is what the front needs again when it serves the kept
	// rendition (what its per-request headers say); Rendered only keeps
	// it.
	Extra any
}

// Rendered keeps, per served document, the last Rendition made of it and
// what it was made from, so that a warm request is a lookup and a write:
// no parsing, no verdicts, no filtering, no encoding, no hashing of the
// body.
//
// A Rendition depends on the served key (the route and the form), the
// variant (the base URL clients reach sigil at, which archive URLs start
// with), the upstream document (its SHA-256), the front's own state (such
// as the registry keys it checks signatures with) and the verdicts. It is
// served again (Core.Kept) only when all of these are equal, the verdicts
// being known equal without being made: the Checker's stamp of them
// (proxy.StampedChecker) is still current, which it is not once the
// package's evidence changed (a new checkpoint with a revocation takes
// effect at once) or a verdict aged (a release age). Without a current
// stamp the verdicts are made, and the Rendition is still reused when
// they are equal in the exact encoding the front gives (every version's
// action, source decision and reasons).
//
// It keeps at most maxEntries documents, their bodies in about maxBytes
// of memory, least recently used first out. With a directory
// (NewSpillingRendered), a body larger than SpillBytes is kept in a file
// of a private directory made in it, and those files in about
// SpilledBytes; a file goes when its document does. Safe for concurrent
// use.
type Rendered struct {
	max, maxDisk int64
	files        *scratch.Dir // nil: every body in memory

	mu        sync.Mutex
	lru       *simplelru.LRU[string, *rendered]
	bytes     int64  // of memory
	diskBytes int64  // of files
	keepFile  string // not removed by the eviction under way (put)
}

// rendered is one kept Rendition; never changed once kept (a new stamp is
// a new rendered, which may share the file).
type rendered struct {
	doc      [32]byte
	verdicts []byte
	stamp    proxy.Stamp
	state    any
	made     time.Time
	r        Rendition // Body nil when it is in file
	file     string
	fileSize int64
	// plain is the body's header values, its ETag and Last-Modified
	// among them, shared by the copies of the entry.
	plain *headerValues
	// gz is the body gzipped, made on the first request that accepts it
	// and shared by the copies of the entry; used only for a body kept in
	// memory (gzipFrom to SpillBytes).
	gz *gzBody
}

// headerValues are the header values of one form of a kept document
// (plain or gzipped), made once: a warm request assigns them, where
// http.Header.Set would make a slice of each value, every time. Every
// answer shares them, so they are never changed, and each slice has no
// spare capacity, so that an Add elsewhere copies it.
type headerValues struct {
	etag         string
	modified     time.Time
	contentType  []string
	cacheControl []string
	etagV        []string
	lastModified []string // nil for no Last-Modified
	length       []string
	size         int64
}

func newHeaderValues(contentType, cacheControl, etag string, modified time.Time, size int64) *headerValues {
	h := &headerValues{etag: etag, modified: modified, size: size, contentType: []string{contentType},
		cacheControl: []string{cacheControl}, etagV: []string{etag}, length: []string{strconv.FormatInt(size, 10)}}
	if !modified.IsZero() && !modified.Equal(time.Unix(0, 0)) {
		h.lastModified = []string{modified.UTC().Format(http.TimeFormat)}
	}
	return h
}

// withBody returns h for another form of the same document (its gzip
// copy): the same type, caching and Last-Modified; its own ETag and
// length.
func (h *headerValues) withBody(etag string, size int64) *headerValues {
	n := *h
	n.etag, n.etagV, n.size, n.length = etag, []string{etag}, size, []string{strconv.FormatInt(size, 10)}
	return &n
}

// Header values every answer of a kept document shares (see headerValues).
var (
	acceptRangesBytes  = []string{"bytes"}
	varyAcceptEncoding = []string{"Accept-Encoding"}
	encodingGzip       = []string{"gzip"}
)

// size is what e takes in memory, counting the gzip copy of its body,
// made on first use (write), at an eighth of the body: JSON compresses
// about tenfold. It must not change once e is kept.
func (e *rendered) size() int64 {
	n := int64(len(e.r.Body) + len(e.verdicts) + 256)
	if e.gzips() {
		n += int64(len(e.r.Body)) / 8
	}
	return n
}

// gzips reports whether e's body is served gzipped to a client that
// accepts it: one kept in memory, from gzipFrom to SpillBytes.
func (e *rendered) gzips() bool {
	return e.gz != nil && len(e.r.Body) >= gzipFrom && len(e.r.Body) <= SpillBytes
}

// NewRendered returns an empty Rendered that keeps up to maxEntries
// documents and about maxBytes, all in memory.
func NewRendered(maxEntries int, maxBytes int64) *Rendered {
	return NewSpillingRendered(maxEntries, maxBytes, "", 0)
}

// NewSpillingRendered is NewRendered, which keeps bodies larger than
// SpillBytes in files of a private directory it makes in dir when it
// first needs one, in about maxDisk bytes. It does no I/O. dir "" keeps
// every body in memory.
func NewSpillingRendered(maxEntries int, maxBytes int64, dir string, maxDisk int64) *Rendered {
	c := &Rendered{max: maxBytes, maxDisk: maxDisk}
	if dir != "" {
		c.files = &scratch.Dir{Parent: dir, Pattern: "sigil-rendered-*"}
	}
	c.lru, _ = simplelru.NewLRU(maxEntries, func(_ string, e *rendered) {
		c.bytes -= e.size()
		c.diskBytes -= e.fileSize
		if e.file != "" && e.file != c.keepFile {
			// A request serving it holds it open, and reads on.
			os.Remove(e.file)
		}
	})
	return c
}

func (c *Rendered) get(key string) *rendered {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, _ := c.lru.Get(key)
	return e
}

func (c *Rendered) put(key string, e *rendered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.lru.Peek(key); ok && old.plain.modified.After(e.plain.modified) {
		// The kept Last-Modified never moves back. The kept body was
		// recorded in the ServedStore after e's (two renders raced,
		// one of them from evidence that had changed) and may already
		// be with a client: e, kept with its earlier Last-Modified,
		// would answer that client's If-Modified-Since with a 304, and
		// the client would keep the other body. The kept one is served
		// only while its stamp is current; otherwise the next request
		// renders again, with a Last-Modified after both.
		if e.file != "" && e.file != old.file {
			os.Remove(e.file)
		}
		return
	}
	c.keepFile = e.file
	c.lru.Remove(key)
	c.keepFile = ""
	if e.size() > c.max/2 || e.fileSize > c.maxDisk/2 {
		if e.file != "" {
			os.Remove(e.file)
		}
		return
	}
	c.lru.Add(key, e)
	c.bytes += e.size()
	c.diskBytes += e.fileSize
	for c.bytes > c.max || c.diskBytes > c.maxDisk {
		c.lru.RemoveOldest()
	}
}

// spill moves e's body into a file, when it is large and c has a
// directory. A body that cannot be written stays in memory.
func (c *Rendered) spill(e *rendered) error {
	if c.files == nil || len(e.r.Body) <= SpillBytes {
		return nil
	}
	name, err := c.files.Write(e.r.Body)
	if err != nil {
		return err
	}
	e.file, e.fileSize, e.r.Body = name, int64(len(e.r.Body)), nil
	return nil
}

// Len returns how many documents are kept.
func (c *Rendered) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Kept is a Rendition kept and still current, ready to serve
// (Core.ServeKept, which must be called).
type Kept struct {
	e *rendered
	f *os.File // the body's file, open
}

// Extra is the Rendition's Extra.
func (k Kept) Extra() any { return k.e.r.Extra }

// Kept returns the Rendition kept under key (its ServedStore key) for
// variant, if it was made from the upstream document doc (its SHA-256)
// with the front state state (compared with ==), under verdicts about pkg
// that the Checker says are current, and no longer than KeepFor ago. It
// may look pkg up in the release log, as deciding would. When it returns
// false, the front decides and renders (ServeRendered); when true, the
// front must answer with ServeKept.
func (c *Core) Kept(ctx context.Context, key, variant string, doc [32]byte, ecosystem, pkg string, state any) (Kept, bool) {
	sc, ok := c.Checker.(proxy.StampedChecker)
	if !ok {
		return Kept{}, false
	}
	e := c.Rendered.get(key + "\x00" + variant)
	if e == nil || e.doc != doc || e.state != state || c.KeepFor > 0 && time.Since(e.made) >= c.KeepFor ||
		!sc.Current(ctx, ecosystem, pkg, e.stamp) {
		return Kept{}, false
	}
	k, ok := c.open(e)
	if ok {
		c.Metrics.Rendered(c.Name, true)
	}
	return k, ok
}

// open opens e's file, if it has one; false when it went since e was
// found (the document was evicted).
func (c *Core) open(e *rendered) (Kept, bool) {
	if e.file == "" {
		return Kept{e: e}, true
	}
	f, err := os.Open(e.file)
	if err != nil {
		return Kept{}, false
	}
	return Kept{e, f}, true
}

// ServeKept answers k as ServeRendered answers a Rendition.
func (c *Core) ServeKept(w http.ResponseWriter, r *http.Request, k Kept) {
	c.write(w, r, k)
}

// DecideStamped is Decide, and also returns the Checker's stamp of the
// verdicts (the zero Stamp, never current, from a Checker that gives
// none), for ServeRendered.
func (c *Core) DecideStamped(ctx context.Context, ecosystem, pkg string, facts []proxy.VersionFacts) ([]proxy.VersionVerdict, proxy.Stamp) {
	sc, ok := c.Checker.(proxy.StampedChecker)
	if !ok || len(facts) == 0 {
		return c.Decide(ctx, ecosystem, pkg, facts), proxy.Stamp{}
	}
	verdicts, st := sc.VersionsStamped(ctx, ecosystem, pkg, facts)
	if len(verdicts) != len(facts) {
		return c.checked(pkg, facts, verdicts), proxy.Stamp{}
	}
	return verdicts, st
}

// ServeRendered answers the document under key (its ServedStore key) for
// variant (the base URL it is rendered for): the kept Rendition when it
// was made from the same upstream document (doc, its SHA-256) and the
// same verdicts, else render's. Either is kept for the next request with
// stamp, the Checker's stamp of the verdicts, and the front's state, for
// Kept. The answer is ServeDocument's: sigil's own ETag and
// Last-Modified, 304 to a client that has it.
func (c *Core) ServeRendered(w http.ResponseWriter, r *http.Request, key, variant string, doc [32]byte, verdicts []byte, stamp proxy.Stamp, state any, render func() Rendition) {
	k := key + "\x00" + variant
	if old := c.Rendered.get(k); old != nil && old.doc == doc && bytes.Equal(old.verdicts, verdicts) {
		if kept, ok := c.open(old); ok {
			c.Metrics.Rendered(c.Name, true)
			n := *old
			n.stamp, n.state, n.made = stamp, state, time.Now()
			c.Rendered.put(k, &n)
			c.write(w, r, kept)
			return
		}
	}
	c.Metrics.Rendered(c.Name, false)
	rd := render()
	sum := sha256.Sum256(rd.Body)
	modified, err := c.Served.ServedState(r.Context(), key, sum[:])
	e := &rendered{doc: doc, verdicts: bytes.Clone(verdicts), stamp: stamp, state: state, made: time.Now(), r: rd, gz: &gzBody{},
		plain: newHeaderValues(rd.ContentType, rd.CacheControl, `"`+hex.EncodeToString(sum[:16])+`"`, modified, int64(len(rd.Body)))}
	if err != nil {
		// Without a Last-Modified the client cannot revalidate, which
		// costs a transfer and nothing else; the next request tries
		// again.
		c.Log.Warn(c.Name+": served state", "key", key, "err", err)
		c.write(w, r, Kept{e: e})
		return
	}
	// Kept before it is served, so that a client that has it and asks
	// again finds it kept, or one kept after it (Rendered.put). e's
	// body is served from memory.
	kept := *e
	if err := c.Rendered.spill(&kept); err != nil {
		c.Log.Warn(c.Name+": a large rendered document is kept in memory: it could not be written to a file", "key", key, "err", err)
	}
	// A front sizes its buffer for the upstream document, larger than what
	// it serves (the abbreviated npm form is a fraction of it): kept as it
	// is, an entry would hold that spare capacity too.
	if b := kept.r.Body; cap(b)-len(b) > len(b)/8 {
		kept.r.Body = bytes.Clone(b)
	}
	c.Rendered.put(k, &kept)
	c.write(w, r, Kept{e: e})
}

func (c *Core) write(w http.ResponseWriter, r *http.Request, k Kept) {
	e := k.e
	hdr := w.Header()
	for k, v := range e.r.Header {
		hdr[k] = v
	}
	h := e.plain
	hdr["Content-Type"] = h.contentType
	hdr["Cache-Control"] = h.cacheControl
	if k.f == nil && e.gzips() {
		if _, ok := hdr["Vary"]; ok {
			hdr.Add("Vary", "Accept-Encoding")
		} else {
			hdr["Vary"] = varyAcceptEncoding
		}
		if plainRequest(r) && acceptsGzip(r) {
			gz, gh := e.gz.of(e.r.Body, h)
			hdr["Content-Encoding"] = encodingGzip
			serveBody(w, r, gh, gz, nil)
			return
		}
	}
	if k.f != nil {
		defer k.f.Close()
		serveBody(w, r, h, nil, k.f)
		return
	}
	serveBody(w, r, h, e.r.Body, nil)
}

// serveBody answers r with a kept document's body, from memory (body) or
// from a file (f, body nil), with h's ETag, Last-Modified and length, as
// http.ServeContent does, and writes it in one Write, or with sendfile
// from the file: ServeContent copies through a 32 KB buffer, a system call
// for every 32 KB, most of the time a warm document costs. The requests
// it answers itself are the common ones, a GET or HEAD with no more than
// If-None-Match and If-Modified-Since (npm and Composer revalidate with
// these); a range or another precondition goes to ServeContent.
func serveBody(w http.ResponseWriter, r *http.Request, h *headerValues, body []byte, f *os.File) {
	hdr := w.Header()
	hdr["Etag"] = h.etagV
	if !plainRequest(r) {
		var rs io.ReadSeeker = f
		if f == nil {
			rs = bytes.NewReader(body)
		}
		http.ServeContent(w, r, "", h.modified, rs)
		return
	}
	if notModified(r, h.etag, h.modified) {
		// As ServeContent answers a 304 (RFC 9110, section 15.4.5).
		delete(hdr, "Content-Type")
		delete(hdr, "Content-Length")
		delete(hdr, "Content-Encoding")
		delete(hdr, "Last-Modified")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if h.lastModified != nil {
		hdr["Last-Modified"] = h.lastModified
	}
	hdr["Accept-Ranges"] = acceptRangesBytes
	hdr["Content-Length"] = h.length
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if f == nil {
		_, _ = w.Write(body)
		return
	}
	// A file is copied with ReadFrom: sendfile.
	_, _ = io.CopyN(w, f, h.size)
}

// plainRequest reports whether r is a GET or HEAD with no precondition
// but If-None-Match and If-Modified-Since, and no range.
func plainRequest(r *http.Request) bool {
	h := r.Header
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		h.Get("Range") == "" && h.Get("If-Range") == "" && h.Get("If-Match") == "" && h.Get("If-Unmodified-Since") == ""
}

// gzipFrom is the smallest body served gzipped: below it the header and
// the CPU cost more than the bytes saved. Bodies above SpillBytes, kept in
// files and sent with sendfile, are served as they are, from memory too,
// so that one document has one set of headers.
const gzipFrom = 4 << 10

// acceptsGzip reports whether the client takes a gzip body: Composer's
// curl and npm's fetch both say so. A q of 0 refuses it.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			if !strings.EqualFold(coding, "gzip") && !strings.EqualFold(coding, "x-gzip") {
				continue
			}
			q := strings.TrimSpace(params)
			if rest, ok := strings.CutPrefix(q, "q="); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil && f == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// gzBody is a rendered body gzipped once, on first use: a warm document
// then costs a tenth of the bytes to write (a 100 KB Composer p2 is about
// 10 KB), where most of its time goes.
type gzBody struct {
	once sync.Once
	b    []byte
	h    *headerValues // of b, its ETag the plain one's marked as this representation's
}

// of returns body gzipped and its header values, made from plain, the
// plain body's.
func (g *gzBody) of(body []byte, plain *headerValues) ([]byte, *headerValues) {
	g.once.Do(func() {
		var buf bytes.Buffer
		buf.Grow(len(body) / 8)
		// A gzip writer holds about a megabyte of compressor state: an
		// install asks for dozens of documents at once, so they are reused.
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		zw.Reset(nil)
		gzipWriters.Put(zw)
		g.b = bytes.Clone(buf.Bytes())
		g.h = plain.withBody(strings.TrimSuffix(plain.etag, `"`)+`-gzip"`, int64(len(g.b)))
	})
	return g.b, g.h
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// notModified reports whether a GET or HEAD of the document whose ETag is
// etag and whose Last-Modified is modified is answered 304: If-None-Match
// names the ETag (weak comparison) or "*", or, when there is no
// If-None-Match, If-Modified-Since is not before it.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		for _, v := range inm {
			for tag := range strings.SplitSeq(v, ",") {
				tag = strings.TrimSpace(tag)
				if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") && etag != "" {
					return true
				}
			}
		}
		return false
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || modified.IsZero() || modified.Equal(time.Unix(0, 0)) {
		return false
	}
	t, err := http.ParseTime(ims)
	return err == nil && !modified.Truncate(time.Second).After(t)
}

// AppendVerdicts appends the exact encoding of verdicts that ServeRendered
// compares: every field the served document depends on.
func AppendVerdicts(b []byte, vs []proxy.VersionVerdict) []byte {
	for i := range vs {
		v := &vs[i]
		b = append(b, byte(v.Action), flag(v.KeepSource), flag(v.Signed), flag(v.Failed), flag(v.NoticeOnly))
		for _, r := range v.Reasons {
			b = append(b, r...)
			b = append(b, 0)
		}
		b = append(b, 0xff) // not in any UTF-8 text: ends the version
	}
	return b
}

func flag(b bool) byte {
	if b {
		return 1
	}
	return 0
}

package front

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/sigilproxy/sigil/proxy"
)

// RenderedEntries and RenderedBytes bound the served documents a front
// keeps: the documents of a few installs' worth of packages, and a few of
// the largest packuments.
const (
	RenderedEntries = 4096
	RenderedBytes   = 96 << 20
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
// action, source decision and reasons). Safe for concurrent use.
type Rendered struct {
	max int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, *rendered]
	bytes int64
}

// rendered is one kept Rendition; never changed once kept (a new stamp is
// a new rendered).
type rendered struct {
	doc      [32]byte
	verdicts []byte
	stamp    proxy.Stamp
	state    any
	made     time.Time
	r        Rendition
	etag     string
	modified time.Time
}

func (e *rendered) size() int64 { return int64(len(e.r.Body) + len(e.verdicts) + 256) }

// NewRendered returns an empty Rendered that keeps up to maxEntries
// documents and about maxBytes.
func NewRendered(maxEntries int, maxBytes int64) *Rendered {
	c := &Rendered{max: maxBytes}
	c.lru, _ = simplelru.NewLRU(maxEntries, func(_ string, e *rendered) { c.bytes -= e.size() })
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
	c.lru.Remove(key)
	if e.size() > c.max/2 {
		return
	}
	c.lru.Add(key, e)
	c.bytes += e.size()
	for c.bytes > c.max {
		c.lru.RemoveOldest()
	}
}

// Len returns how many documents are kept.
func (c *Rendered) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Kept is a Rendition kept and still current, ready to serve
// (Core.ServeKept).
type Kept struct{ e *rendered }

// Extra is the Rendition's Extra.
func (k Kept) Extra() any { return k.e.r.Extra }

// Kept returns the Rendition kept under key (its ServedStore key) for
// variant, if it was made from the upstream document doc (its SHA-256)
// with the front state state (compared with ==), under verdicts about pkg
// that the Checker says are current, and no longer than KeepFor ago. It
// may look pkg up in the release log, as deciding would. When it returns
// false, the front decides and renders (ServeRendered).
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
	c.Metrics.Rendered(c.Name, true)
	return Kept{e}, true
}

// ServeKept answers k as ServeRendered answers a Rendition.
func (c *Core) ServeKept(w http.ResponseWriter, r *http.Request, k Kept) {
	c.write(w, r, k.e)
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
	old := c.Rendered.get(k)
	hit := old != nil && old.doc == doc && bytes.Equal(old.verdicts, verdicts)
	c.Metrics.Rendered(c.Name, hit)
	var e *rendered
	if hit {
		n := *old
		n.stamp, n.state, n.made = stamp, state, time.Now()
		e = &n
		c.Rendered.put(k, e)
	} else {
		rd := render()
		// A front sizes its buffer for the upstream document, larger than
		// what it serves (the abbreviated npm form is a fraction of it): kept
		// as it is, every entry would hold that spare capacity too.
		if cap(rd.Body)-len(rd.Body) > len(rd.Body)/8 {
			rd.Body = bytes.Clone(rd.Body)
		}
		sum := sha256.Sum256(rd.Body)
		e = &rendered{doc: doc, verdicts: bytes.Clone(verdicts), stamp: stamp, state: state, made: time.Now(), r: rd, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		var err error
		e.modified, err = c.Served.ServedState(r.Context(), key, sum[:])
		if err != nil {
			// Without a Last-Modified the client cannot revalidate, which
			// costs a transfer and nothing else; the next request tries
			// again.
			c.Log.Warn(c.Name+": served state", "key", key, "err", err)
		} else {
			c.Rendered.put(k, e)
		}
	}
	c.write(w, r, e)
}

func (c *Core) write(w http.ResponseWriter, r *http.Request, e *rendered) {
	hdr := w.Header()
	for k, v := range e.r.Header {
		hdr[k] = v
	}
	hdr.Set("Content-Type", e.r.ContentType)
	hdr.Set("ETag", e.etag)
	hdr.Set("Cache-Control", e.r.CacheControl)
	serveBody(w, r, e.etag, e.modified, e.r.Body)
}

// serveBody answers r with body, whose ETag header is set to etag, as
// http.ServeContent does, and writes a whole body in one Write:
// ServeContent copies through a 32 KB buffer, a system call for every
// 32 KB, most of the time a warm document costs. The requests it answers
// itself are the common ones, a GET or HEAD with no more than
// If-None-Match and If-Modified-Since (npm and Composer revalidate with
// these); a range or another precondition goes to ServeContent.
func serveBody(w http.ResponseWriter, r *http.Request, etag string, modified time.Time, body []byte) {
	h := r.Header
	if r.Method != http.MethodGet && r.Method != http.MethodHead ||
		h.Get("Range") != "" || h.Get("If-Range") != "" || h.Get("If-Match") != "" || h.Get("If-Unmodified-Since") != "" {
		http.ServeContent(w, r, "", modified, bytes.NewReader(body))
		return
	}
	hdr := w.Header()
	if notModified(r, etag, modified) {
		// As ServeContent answers a 304 (RFC 9110, section 15.4.5).
		delete(hdr, "Content-Type")
		delete(hdr, "Content-Length")
		delete(hdr, "Content-Encoding")
		delete(hdr, "Last-Modified")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if !modified.IsZero() && !modified.Equal(time.Unix(0, 0)) {
		hdr.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

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
		b = append(b, byte(v.Action), flag(v.KeepSource), flag(v.Signed), flag(v.Failed))
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

package front

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
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
}

// Rendered keeps, per served document, the last Rendition made of it and
// what it was made from, so that a warm request is a lookup and a write:
// no filtering, no encoding, no hashing of the body.
//
// An entry is reused only when everything the Rendition depends on is
// equal: the served key (the route and the form), the variant (the base
// URL clients reach sigil at, which archive URLs start with), the SHA-256 of the upstream document, and the
// verdicts, in the exact encoding the front gives (every version's action,
// source decision and reasons). Verdicts are made anew on every request,
// so a new revocation, a changed policy or new log evidence changes the
// encoding and the document is rendered again. Safe for concurrent use.
type Rendered struct {
	max int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, *rendered]
	bytes int64
}

type rendered struct {
	doc      [32]byte
	verdicts []byte
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

func (c *Rendered) get(key string, doc [32]byte, verdicts []byte) (*rendered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(key)
	if !ok || e.doc != doc || !bytes.Equal(e.verdicts, verdicts) {
		return nil, false
	}
	return e, true
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

// ServeRendered answers the document under key (its ServedStore key) for
// variant (the base URL it is rendered for): the kept Rendition when it
// was made from the same upstream document (doc, its SHA-256) and the
// same verdicts, else render's, which is kept for the next request. The
// answer is ServeDocument's: sigil's own ETag and Last-Modified, 304 to a
// client that has it.
func (c *Core) ServeRendered(w http.ResponseWriter, r *http.Request, key, variant string, doc [32]byte, verdicts []byte, render func() Rendition) {
	e, hit := c.Rendered.get(key+"\x00"+variant, doc, verdicts)
	c.Metrics.Rendered(c.Name, hit)
	if !hit {
		rd := render()
		// A front sizes its buffer for the upstream document, larger than
		// what it serves (the abbreviated npm form is a fraction of it): kept
		// as it is, every entry would hold that spare capacity too.
		if cap(rd.Body)-len(rd.Body) > len(rd.Body)/8 {
			rd.Body = bytes.Clone(rd.Body)
		}
		sum := sha256.Sum256(rd.Body)
		e = &rendered{doc: doc, verdicts: bytes.Clone(verdicts), r: rd, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		var err error
		e.modified, err = c.Served.ServedState(r.Context(), key, sum[:])
		if err != nil {
			// Without a Last-Modified the client cannot revalidate, which
			// costs a transfer and nothing else; the next request tries
			// again.
			c.Log.Warn(c.Name+": served state", "key", key, "err", err)
		} else {
			c.Rendered.put(key+"\x00"+variant, e)
		}
	}
	hdr := w.Header()
	for k, v := range e.r.Header {
		hdr[k] = v
	}
	hdr.Set("Content-Type", e.r.ContentType)
	hdr.Set("ETag", e.etag)
	hdr.Set("Cache-Control", e.r.CacheControl)
	http.ServeContent(w, r, "", e.modified, bytes.NewReader(e.r.Body))
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

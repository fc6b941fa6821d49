package composer

import (
	"sync"
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// An archive request needs the facts of one version from the upstream's
// metadata. Composer downloads archives right after it read the metadata,
// so sigil keeps, for a short while, what it extracted from each p2
// document it parsed: an install of a hundred packages then costs no
// second upstream round trip and no second parse per archive. Only facts
// are kept, never verdicts: the Checker decides every archive request
// anew, so a revocation takes effect at once; a metadata change upstream
// takes effect within indexTTL.
const (
	indexTTL  = time.Minute
	indexSize = 128 // documents; a few hundred KB at most each
)

// archiveRef is what sigil knows about one version's archive.
type archiveRef struct {
	facts proxy.VersionFacts
	dist  dist
}

// docIndex holds the archive facts of one upstream p2 document, in
// document order. A lookup scans it: a few thousand string comparisons
// per archive request cost less than building a map on every metadata
// request.
type docIndex struct {
	refs []archiveRef
	made time.Time
}

func newDocIndex(d *p2Doc) *docIndex {
	x := &docIndex{refs: make([]archiveRef, 0, len(d.entries)), made: time.Now()}
	for i := range d.entries {
		if e := &d.entries[i]; e.problem == "" {
			x.refs = append(x.refs, archiveRef{e.facts, e.dist})
		}
	}
	return x
}

// indexCache is a small map of docIndex by upstream document URL. Entries
// expire after indexTTL; when full, the oldest goes.
type indexCache struct {
	mu    sync.Mutex
	m     map[string]*docIndex
	order []string // insertion order, for eviction
}

func (c *indexCache) get(url string) (*docIndex, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	x, ok := c.m[url]
	if !ok || time.Since(x.made) > indexTTL {
		return nil, false
	}
	return x, true
}

func (c *indexCache) put(url string, x *docIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*docIndex{}
	}
	if _, ok := c.m[url]; !ok {
		c.order = append(c.order, url)
	}
	c.m[url] = x
	for len(c.m) > indexSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

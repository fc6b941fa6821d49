package npm

import (
	"sync"
	"time"
)

// A tarball request needs the facts of one version from the upstream's
// packument. npm downloads tarballs right after it read the packuments, so
// sigil keeps, for a short while, what it extracted from each packument it
// parsed: an install of a hundred packages then costs no second upstream
// round trip and no second parse per tarball. Only facts are kept, never
// verdicts: every tarball request is decided anew, so a revocation takes
// effect at once; a change upstream takes effect within indexTTL.
const (
	indexTTL  = time.Minute
	indexSize = 256 // packuments; a few hundred bytes per version each
)

// indexed is what sigil knows about one version of a recent packument.
type indexed struct {
	versionFacts
	published string // the packument's "time" entry, "" if none
}

// docIndex holds the facts of one packument, by version.
type docIndex struct {
	versions map[string]*indexed
	made     time.Time
}

func newDocIndex(p *packument) *docIndex {
	x := &docIndex{versions: make(map[string]*indexed, len(p.versions)), made: time.Now()}
	for i := range p.versions {
		v := &p.versions[i]
		x.versions[v.key] = &indexed{versionFacts: v.versionFacts, published: p.times[v.key]}
	}
	return x
}

// indexCache is a small map of docIndex by package name. Entries expire
// after indexTTL; when full, the oldest goes.
type indexCache struct {
	mu    sync.Mutex
	m     map[string]*docIndex
	order []string // insertion order, for eviction
}

func (c *indexCache) get(name string) (*docIndex, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	x, ok := c.m[name]
	if !ok || time.Since(x.made) > indexTTL {
		return nil, false
	}
	return x, true
}

func (c *indexCache) put(name string, x *docIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*docIndex{}
	}
	if _, ok := c.m[name]; !ok {
		c.order = append(c.order, name)
	}
	c.m[name] = x
	for len(c.m) > indexSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

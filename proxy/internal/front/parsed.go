package front

import (
	"crypto/sha256"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"
)

// ParsedEntries and ParsedBytes bound the documents a front keeps parsed.
// A warm request is served from the kept rendered document (Rendered)
// without a parse, and npm's tarball requests read the facts a front kept
// of the packument, so a parsed document is asked for again mostly when
// its rendered form was evicted or its verdicts changed: 16 MiB per front
// keeps the recent small ones, and no document estimated at more than
// 2 MiB parsed (an eighth), so that a few huge ones (the largest npm
// packuments are tens of megabytes) do not hold sigil's memory.
const (
	ParsedEntries = 1024
	ParsedBytes   = 16 << 20
)

// Parsed keeps what a front parsed from upstream documents, so that a
// document fetched again with the same bytes is not parsed again. Every
// metadata request, and every revalidation a client sends, fetches the
// upstream's document (proxy.Upstream answers from its cache while the
// upstream's copy is unchanged) and would otherwise parse it, expand it and
// digest every version's manifest anew: most of the cost of a request for
// a package with hundreds of versions.
//
// A value is found by the SHA-256 of the document's bytes and a variant,
// everything else the parse depends on (a package name), so a changed
// document is parsed again, and one parse cannot stand for another.
// Values are shared by every request that finds them: a parse function
// must return a value that nobody changes afterwards. What is kept are
// facts of the bytes, never verdicts: the front still asks the Checker on
// every request.
//
// It keeps at most maxEntries values and about maxBytes of memory, least
// recently used first out; a value estimated at more than an eighth of
// maxBytes is not kept. A parse that fails is not kept. Concurrent
// requests for the same document wait for one parse. Safe for concurrent
// use.
type Parsed[T any] struct {
	maxBytes int64

	mu    sync.Mutex
	lru   *simplelru.LRU[parsedKey, parsedEntry[T]]
	bytes int64 // estimated, of the values in lru

	group singleflight.Group
}

type parsedKey struct {
	sum     [sha256.Size]byte
	variant string
}

type parsedEntry[T any] struct {
	v    T
	size int64
}

// NewParsed returns an empty Parsed that keeps up to maxEntries values and
// about maxBytes.
func NewParsed[T any](maxEntries int, maxBytes int64) *Parsed[T] {
	p := &Parsed[T]{maxBytes: maxBytes}
	lru, err := simplelru.NewLRU(maxEntries, func(_ parsedKey, e parsedEntry[T]) { p.bytes -= e.size })
	if err != nil {
		panic(err) // only for maxEntries <= 0
	}
	p.lru = lru
	return p
}

// Get returns the value parse makes of body for variant: the kept one if
// the same bytes were parsed for variant before, else parse's. parse must
// be a function of body and variant only; it also returns the value's
// approximate memory in bytes (the body's included, if the value holds
// slices of it), for the bound.
func (p *Parsed[T]) Get(body []byte, variant string, parse func() (T, int64, error)) (T, error) {
	return p.GetSum(sha256.Sum256(body), variant, parse)
}

// GetSum is Get for a body whose SHA-256 is sum, already computed
// (proxy.Document.Digest): a large document is not hashed again on every
// request.
func (p *Parsed[T]) GetSum(sum [sha256.Size]byte, variant string, parse func() (T, int64, error)) (T, error) {
	key := parsedKey{sum, variant}
	if v, ok := p.get(key); ok {
		return v, nil
	}
	v, err, _ := p.group.Do(string(key.sum[:])+"\x00"+variant, func() (any, error) {
		// Another caller's parse may have finished since the check.
		if v, ok := p.get(key); ok {
			return v, nil
		}
		v, size, err := parse()
		if err != nil {
			return v, err
		}
		p.put(key, v, size)
		return v, nil
	})
	return v.(T), err
}

func (p *Parsed[T]) get(key parsedKey) (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.lru.Get(key)
	return e.v, ok
}

func (p *Parsed[T]) put(key parsedKey, v T, size int64) {
	// A huge document (tens of megabytes parsed) is parsed again when it
	// is asked for again: kept, a few of them would hold more memory than
	// the metadata budget lets requests use at once.
	if size > p.maxBytes/8 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lru.Remove(key) // so that its size is not counted twice
	p.lru.Add(key, parsedEntry[T]{v, size})
	p.bytes += size
	for p.bytes > p.maxBytes {
		p.lru.RemoveOldest()
	}
}

// Len returns how many values are kept.
func (p *Parsed[T]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.Len()
}

// Purge forgets every value.
func (p *Parsed[T]) Purge() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lru.Purge()
}

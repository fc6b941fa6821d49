package proxy

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// memDoc is a stored upstream document as HTTPUpstream keeps it in
// memory: the document, when the upstream last confirmed it, and, after a
// failed refresh, when to ask again. A memDoc is never changed once made:
// a new state is a new memDoc.
type memDoc struct {
	Document
	confirmed time.Time
	retryAt   time.Time
	file      string // where Body is, when it is not (docFiles)
}

func (e *memDoc) document() *Document {
	d := e.Document
	return &d
}

// docMemory keeps recently used documents in memory, up to a number of
// bytes, least recently used first out. Safe for concurrent use.
type docMemory struct {
	max int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, *memDoc]
	bytes int64
}

// memDocEntries bounds the number of documents in memory, whatever their
// size.
const memDocEntries = 8192

func newDocMemory(max int64) *docMemory {
	m := &docMemory{max: max}
	m.lru, _ = simplelru.NewLRU(memDocEntries, func(_ string, e *memDoc) { m.bytes -= int64(len(e.Body)) })
	return m
}

func (m *docMemory) get(url string) (*memDoc, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Get(url)
}

// put keeps e for url, unless it is larger than an eighth of the bound:
// a few huge documents would otherwise push out hundreds of small ones.
func (m *docMemory) put(url string, e *memDoc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(url)
	if int64(len(e.Body)) > m.max/8 {
		return
	}
	m.lru.Add(url, e)
	m.bytes += int64(len(e.Body))
	for m.bytes > m.max {
		m.lru.RemoveOldest()
	}
}

func (m *docMemory) remove(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(url)
}

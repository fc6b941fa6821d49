package front

import (
	"sync"
	"time"
)

// Recent keeps a few values for a short while: a front keeps the facts of
// each upstream document it parsed, because clients download archives
// right after they read the metadata, and an install of a hundred
// packages then costs no second upstream round trip and no second parse
// per archive. Only facts are kept, never verdicts: the Checker decides
// every archive request anew, so a revocation takes effect at once; a
// change upstream takes effect within TTL.
//
// A value is returned for TTL after it was put; when more than Size are
// kept, the one put first goes. Safe for concurrent use; the zero value
// keeps nothing until TTL and Size are set.
type Recent[V any] struct {
	TTL  time.Duration
	Size int
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	mu    sync.Mutex
	m     map[string]recentEntry[V]
	order []string // insertion order, for eviction
}

type recentEntry[V any] struct {
	v    V
	made time.Time
}

// Get returns the value put under key, if it is younger than TTL.
func (c *Recent[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || c.now().Sub(e.made) > c.TTL {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put keeps v under key from now on.
func (c *Recent[V]) Put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]recentEntry[V]{}
	}
	if _, ok := c.m[key]; !ok {
		c.order = append(c.order, key)
	}
	c.m[key] = recentEntry[V]{v, c.now()}
	for len(c.m) > c.Size {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

// Purge forgets every value.
func (c *Recent[V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.order = nil, nil
}

func (c *Recent[V]) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

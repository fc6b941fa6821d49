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
// kept, or, with Weight set, when they weigh more than MaxWeight, the one
// put first goes (the newest always stays). Safe for concurrent use; the
// zero value keeps nothing until TTL and Size are set.
type Recent[V any] struct {
	TTL  time.Duration
	Size int
	// Weight, if set, is what a value costs (its memory, say), and
	// MaxWeight bounds the sum over the values kept: a few huge values
	// cannot hold Size times their memory.
	Weight    func(V) int64
	MaxWeight int64
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	mu     sync.Mutex
	m      map[string]recentEntry[V]
	order  []string // insertion order, for eviction
	weight int64    // of the values in m
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
	if old, ok := c.m[key]; ok {
		c.weight -= c.weigh(old.v)
	} else {
		c.order = append(c.order, key)
	}
	c.m[key] = recentEntry[V]{v, c.now()}
	c.weight += c.weigh(v)
	for len(c.m) > c.Size || c.Weight != nil && c.weight > c.MaxWeight && len(c.m) > 1 {
		c.weight -= c.weigh(c.m[c.order[0]].v)
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *Recent[V]) weigh(v V) int64 {
	if c.Weight == nil {
		return 0
	}
	return c.Weight(v)
}

// Purge forgets every value.
func (c *Recent[V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.order, c.weight = nil, nil, 0
}

func (c *Recent[V]) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

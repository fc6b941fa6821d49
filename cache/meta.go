package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Meta is an upstream metadata document as sigil last fetched it, with the
// validators for revalidating it (If-None-Match, If-Modified-Since).
//
// The body is the upstream's bytes, not what sigil served: verdicts can
// change (a revocation), so callers decide again on every use. Store a
// document only after checking it (within limits, parsed, decided).
type Meta struct {
	Body         []byte
	ETag         string // the upstream's ETag header, if any
	LastModified string // the upstream's Last-Modified header, if any
	FetchedAt    time.Time
}

const metaVersion = 1

// metaOverhead bounds what a record adds to the body: version, three
// length prefixes, the validators and the time.
const metaOverhead = 1 + 3*binary.MaxVarintLen64 + 2*maxKeyLen + 16

func metaKey(key string) ([]byte, error) {
	k, err := makeKey(nsMeta, field{"metadata key", key, maxKeyLen})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return k, nil
}

// shownKey is key as errors name it: without a query, which may carry a
// token (keys are typically URLs), since errors end up in logs.
func shownKey(key string) string {
	if i := strings.IndexByte(key, '?'); i >= 0 {
		return key[:i] + "?…"
	}
	return key
}

// GetMeta returns the document stored under key (typically its upstream
// URL), or an error wrapping ErrNotFound. The returned Body is the caller's
// own.
func (s *Store) GetMeta(ctx context.Context, key string) (Meta, error) {
	if err := ctx.Err(); err != nil {
		return Meta{}, err
	}
	k, err := metaKey(key)
	if err != nil {
		return Meta{}, err
	}
	if m, ok := s.metas.get(string(k)); ok {
		s.touch(usedMeta, k[len(nsMeta):])
		return m.clone(), nil
	}
	// Check, lock, re-check: under the key's lock no PutMeta can commit
	// between our read and our LRU insert, so the LRU never goes stale.
	mu := s.stripe(k)
	mu.Lock()
	defer mu.Unlock()
	if m, ok := s.metas.get(string(k)); ok {
		return m.clone(), nil
	}
	v, err := s.get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Meta{}, fmt.Errorf("metadata %q: %w", shownKey(key), ErrNotFound)
	}
	if err != nil {
		return Meta{}, fmt.Errorf("metadata %q: %w", shownKey(key), err)
	}
	m, err := decodeMeta(v)
	if err != nil {
		return Meta{}, fmt.Errorf("metadata %q: %w", shownKey(key), err)
	}
	s.touch(usedMeta, k[len(nsMeta):])
	if !s.metas.add(string(k), m) {
		return m, nil // nobody else holds m: no copy needed
	}
	return m.clone(), nil
}

// DeleteMeta removes what is stored under key, if anything.
func (s *Store) DeleteMeta(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := metaKey(key)
	if err != nil {
		return err
	}
	_, err = s.evictMeta(ctx, candidate{kind: usedMeta, key: k})
	return err
}

// PutMeta stores m under key, replacing what was there. m.Body may be at
// most Options.MaxMetaSize bytes; the validators at most 4 KiB each.
// PutMeta keeps no reference to m.Body.
func (s *Store) PutMeta(ctx context.Context, key string, m Meta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := metaKey(key)
	if err != nil {
		return err
	}
	if len(m.Body) > s.opt.MaxMetaSize {
		return fmt.Errorf("store metadata %q: body of %d bytes is larger than the limit of %d", shownKey(key), len(m.Body), s.opt.MaxMetaSize)
	}
	if len(m.ETag) > maxKeyLen || len(m.LastModified) > maxKeyLen {
		return fmt.Errorf("store metadata %q: validators longer than %d bytes", shownKey(key), maxKeyLen)
	}
	v, err := m.encode()
	if err != nil {
		return fmt.Errorf("store metadata %q: %w", shownKey(key), err)
	}
	mu := s.stripe(k)
	mu.Lock()
	defer mu.Unlock()
	var old int64
	uk, uv, used := s.useRecord(usedMeta, k[len(nsMeta):], true)
	if err := s.update(ctx, func(txn *badger.Txn) error {
		old = 0
		if item, err := txn.Get(k); err == nil {
			old = item.ValueSize()
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if used {
			if err := txn.Set(uk, uv); err != nil {
				return err
			}
		}
		return txn.Set(k, v)
	}); err != nil {
		s.metas.remove(string(k))
		return fmt.Errorf("store metadata %q: %w", shownKey(key), err)
	}
	if old >= valueThreshold {
		s.garbage.Add(old) // the replaced value stays in the value log
	}
	if len(v) >= valueThreshold {
		s.dropValues(k) // written through the value log's mapping
	}
	if s.metas.fits(string(k), m) {
		s.metas.add(string(k), m.clone())
	} else {
		// Too large to keep in memory: no copy of a huge document just
		// to have the LRU refuse it.
		s.metas.remove(string(k))
	}
	s.addUsed(int64(len(v)) - old)
	return nil
}

func (m Meta) clone() Meta {
	m.Body = bytes.Clone(m.Body)
	return m
}

func (m Meta) encode() ([]byte, error) {
	t, err := m.FetchedAt.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(m.ETag)+len(m.LastModified)+len(t)+len(m.Body))
	b = append(b, metaVersion)
	b = appendString(b, m.ETag)
	b = appendString(b, m.LastModified)
	b = appendString(b, string(t))
	return append(b, m.Body...), nil
}

func decodeMeta(b []byte) (Meta, error) {
	if len(b) == 0 || b[0] != metaVersion {
		return Meta{}, errors.New("malformed record: unknown version")
	}
	r := b[1:]
	var fields [3][]byte // ETag, Last-Modified, FetchedAt
	for i := range fields {
		n, k := binary.Uvarint(r)
		if k <= 0 || n > uint64(len(r)-k) {
			return Meta{}, errors.New("malformed record")
		}
		fields[i], r = r[k:k+int(n)], r[k+int(n):]
	}
	m := Meta{Body: r, ETag: string(fields[0]), LastModified: string(fields[1])}
	if err := m.FetchedAt.UnmarshalBinary(fields[2]); err != nil {
		return Meta{}, fmt.Errorf("malformed record: %w", err)
	}
	return m, nil
}

// metaLRU caches decoded documents, bounded by the sum of their sizes
// rather than their number, since documents range from bytes to megabytes.
// A nil *metaLRU caches nothing.
type metaLRU struct {
	mu       sync.Mutex
	l        *simplelru.LRU[string, Meta]
	bytes    int64
	max      int64
	maxEntry int64
}

func newMetaLRU(max int64) *metaLRU {
	c := &metaLRU{max: max, maxEntry: max / 16}
	// The count limit is only a backstop: bytes bound this cache.
	c.l, _ = simplelru.NewLRU(1<<30, func(k string, m Meta) { c.bytes -= metaCost(k, m) })
	return c
}

// metaCost approximates the memory of an entry: its bytes plus the list
// element, map entry and headers.
func metaCost(k string, m Meta) int64 {
	return int64(len(k)+len(m.Body)+len(m.ETag)+len(m.LastModified)) + 160
}

func (c *metaLRU) get(k string) (Meta, bool) {
	if c == nil {
		return Meta{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.l.Get(k)
}

// add caches m, which the cache then owns, replacing any entry for k. It
// reports whether it kept m.
func (c *metaLRU) add(k string, m Meta) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l.Remove(k) // stale now, whether or not m is kept
	cost := metaCost(k, m)
	if cost > c.maxEntry {
		return false
	}
	c.l.Add(k, m)
	c.bytes += cost
	for c.bytes > c.max {
		c.l.RemoveOldest()
	}
	return true
}

// fits reports whether add would keep m.
func (c *metaLRU) fits(k string, m Meta) bool {
	return c != nil && metaCost(k, m) <= c.maxEntry
}

func (c *metaLRU) remove(k string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l.Remove(k)
}

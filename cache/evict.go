package cache

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Eviction keeps the archives and metadata documents under Options.MaxSize,
// least recently used first. Only what can be fetched and verified again
// is ever evicted: blobs (with the archive references that name them) and
// metadata documents. Pins, registry key pins, served state and log state
// (checkpoints, tiles, security errors) are never evicted: losing a pin or
// a checkpoint would weaken a check.
//
// A blob is never evicted while a Blob reader of it is open, while it is
// being written, or between PutBlob and its first OpenBlob (freshGrace):
// a download being served never loses its bytes.

// nsUsed is this file's namespace (see keys.go): + kind byte + the rest of
// the used item's key → uint64 BE Unix seconds of its last use.
const nsUsed = "v1/used/"

const (
	usedBlob = 'b' // + sha256
	usedMeta = 'm' // + the metadata record's key after nsMeta
)

const (
	// touchEvery is how stale a last-use record may get: recency is
	// tracked to the hour, so that serving a hot archive does not write a
	// record on every request.
	touchEvery = time.Hour
	// touchedEntries bounds the memory of which records were written
	// lately.
	touchedEntries = 16384
	// freshGrace protects a blob between PutBlob and its first OpenBlob:
	// the request that stored it is about to serve it.
	freshGrace = time.Minute
	// lowWater is where eviction stops, as a fraction of MaxSize, so that
	// it does not run again for every new archive.
	lowWater = 0.9
)

func usedKey(kind byte, rest []byte) []byte {
	k := make([]byte, 0, len(nsUsed)+1+len(rest))
	k = append(k, nsUsed...)
	k = append(k, kind)
	return append(k, rest...)
}

// touch records that an item was used now, at most once per touchEvery
// per item. A failure costs only recency and is logged at debug level.
func (s *Store) touch(kind byte, rest []byte) {
	k, v, ok := s.useRecord(kind, rest, false)
	if !ok {
		return
	}
	// Not worth waiting for a reclaim: the use is recorded next time.
	if !s.gate.TryRLock() {
		s.touched.Remove(string(k))
		return
	}
	defer s.gate.RUnlock()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
		s.log.Debug("cache: could not record a use", "err", err)
	}
}

// useRecord returns the last-use record of an item used now, and false
// when none is to be written: no cap, or one written lately (unless
// always, for a caller that writes the item in the same transaction, so
// that eviction never sees the item without its record).
func (s *Store) useRecord(kind byte, rest []byte, always bool) (key, val []byte, ok bool) {
	if s.opt.MaxSize <= 0 {
		return nil, nil, false
	}
	k := usedKey(kind, rest)
	now := s.now()
	if last, ok := s.touched.Get(string(k)); ok && now.Sub(last) < touchEvery && !always {
		return nil, nil, false
	}
	s.touched.Add(string(k), now)
	return k, binary.BigEndian.AppendUint64(nil, uint64(now.Unix())), true
}

// Usage is what the cache's evictable content takes: the bytes of stored
// archives and metadata documents, and the cap (0: none). Badger's own
// overhead and space not yet reclaimed by value-log GC come on top.
func (s *Store) Usage() (used, max int64) {
	return s.used.Load(), max0(s.opt.MaxSize)
}

func max0(n int64) int64 { return max(n, 0) }

// addUsed changes the usage by n bytes and, when it went over the cap,
// wakes the evictor.
func (s *Store) addUsed(n int64) {
	if s.used.Add(n) > s.opt.MaxSize && s.opt.MaxSize > 0 {
		s.wakeEvictor()
	}
}

func (s *Store) wakeEvictor() {
	select {
	case s.evictWake <- struct{}{}:
	default: // a run is already due
	}
}

// measure sums the sizes of stored blobs and documents, once at Open.
func (s *Store) measure() error {
	var total int64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsBlobHead), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(func(v []byte) error {
				h, err := decodeBlobHeader(v)
				if err == nil {
					total += h.size
				}
				return nil // a malformed header is reported where it is read
			}); err != nil {
				return err
			}
		}
		mt := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsMeta)})
		defer mt.Close()
		for mt.Rewind(); mt.Valid(); mt.Next() {
			total += mt.Item().ValueSize()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open cache: measure its content: %w", err)
	}
	s.used.Store(total)
	return nil
}

// evictLoop evicts whenever woken, until ctx ends.
func (s *Store) evictLoop(ctx context.Context) {
	defer close(s.evictDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.evictWake:
		}
		if err := s.evict(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cache: eviction failed; it is tried again on the next write", "err", err)
		}
	}
}

// candidate is one evictable item.
type candidate struct {
	kind    byte
	key     []byte // the record's key (blob head or metadata)
	sum     [32]byte
	chunks  uint64 // of a blob
	size    int64
	lastUse int64 // Unix seconds
}

// evict removes least recently used blobs and documents until the usage is
// under lowWater of MaxSize, then has the value log garbage collected so
// that the disk space comes back.
func (s *Store) evict(ctx context.Context) error {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	if s.opt.MaxSize <= 0 || s.used.Load() <= s.opt.MaxSize {
		return nil
	}
	cands, err := s.candidates()
	if err != nil {
		return err
	}
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Compare(a.lastUse, b.lastUse) })
	refs, err := s.refsByBlob()
	if err != nil {
		return err
	}
	target := int64(float64(s.opt.MaxSize) * lowWater)
	var (
		blobs, docs int
		freed       int64
		gone        []evicted // blobs whose chunks are still to go
	)
	// The chunks of the evicted blobs go last, all at once (reclaim), and
	// each blob stays claimed until then, so that no PutBlob writes chunks
	// of the same sum that the drop would take.
	defer func() {
		if len(gone) == 0 && docs == 0 {
			return
		}
		prefixes := make([][]byte, len(gone))
		for i, g := range gone {
			prefixes[i] = blobChunkPrefix(g.sum)
		}
		dropped := s.reclaim(ctx, prefixes)
		for _, g := range gone {
			if !dropped {
				s.deleteChunks(g.sum, g.chunks)
			}
			g.release()
		}
	}()
	for _, c := range cands {
		if s.used.Load() <= target || ctx.Err() != nil {
			break
		}
		var ok bool
		switch c.kind {
		case usedBlob:
			var release func()
			ok, release, err = s.evictBlob(ctx, c, refs[c.sum])
			if ok {
				blobs++
				gone = append(gone, evicted{sum: c.sum, chunks: c.chunks, release: release})
			}
		case usedMeta:
			ok, err = s.evictMeta(ctx, c)
			docs += b2i(ok)
		}
		if err != nil {
			return err
		}
		if ok {
			freed += c.size
		}
	}
	if blobs+docs > 0 {
		s.log.Info("cache: evicted least recently used content", "archives", blobs, "documents", docs,
			"freed_bytes", freed, "used_bytes", s.used.Load(), "max_bytes", s.opt.MaxSize)
	}
	return nil
}

// evicted is a blob whose header is deleted and whose chunks are not yet,
// with the claim that keeps writers of its sum away until they are.
type evicted struct {
	sum     [32]byte
	chunks  uint64
	release func()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// candidates lists every blob and document with its size and last use
// (its last-use record, else when it was stored; documents without a
// record count as oldest).
func (s *Store) candidates() ([]candidate, error) {
	used := map[string]int64{}
	var out []candidate
	err := s.db.View(func(txn *badger.Txn) error {
		ut := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsUsed), PrefetchValues: true})
		for ut.Rewind(); ut.Valid(); ut.Next() {
			_ = ut.Item().Value(func(v []byte) error {
				if len(v) == 8 {
					used[string(ut.Item().Key())] = int64(binary.BigEndian.Uint64(v))
				}
				return nil
			})
		}
		ut.Close()

		bt := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsBlobHead), PrefetchValues: true})
		for bt.Rewind(); bt.Valid(); bt.Next() {
			key := bt.Item().KeyCopy(nil)
			sum := [32]byte(key[len(nsBlobHead):])
			_ = bt.Item().Value(func(v []byte) error {
				h, err := decodeBlobHeader(v)
				if err != nil {
					return nil
				}
				last, ok := used[string(usedKey(usedBlob, sum[:]))]
				if !ok {
					last = h.stored.Unix()
				}
				out = append(out, candidate{kind: usedBlob, key: key, sum: sum, chunks: h.chunks(), size: h.size, lastUse: last})
				return nil
			})
		}
		bt.Close()

		mt := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsMeta)})
		for mt.Rewind(); mt.Valid(); mt.Next() {
			key := mt.Item().KeyCopy(nil)
			out = append(out, candidate{kind: usedMeta, key: key, size: mt.Item().ValueSize(),
				lastUse: used[string(usedKey(usedMeta, key[len(nsMeta):]))]})
		}
		mt.Close()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list what the cache holds: %w", err)
	}
	return out, nil
}

// evictBlob removes one blob's header, its last-use record and the archive
// references that name it, unless it is open, being written or fresh. It
// reports whether it removed them; when it did, the caller owns the claim
// on the blob (release), and removes the chunks before releasing it.
func (s *Store) evictBlob(ctx context.Context, c candidate, refs [][]byte) (removed bool, release func(), err error) {
	claim, ok := s.claimBlob(c.sum)
	if !ok {
		return false, nil, nil // being written
	}
	defer func() {
		if !removed {
			claim()
		}
	}()
	s.openMu.Lock()
	if s.open[c.sum] > 0 {
		s.openMu.Unlock()
		return false, nil, nil
	}
	if put, ok := s.fresh[c.sum]; ok {
		if s.now().Sub(put) < freshGrace {
			s.openMu.Unlock()
			return false, nil, nil
		}
		delete(s.fresh, c.sum)
	}
	// Under openMu, no OpenBlob can find the header between the check
	// above and its deletion.
	gone := false
	err = s.update(ctx, func(txn *badger.Txn) error {
		gone = false
		if _, err := txn.Get(c.key); errors.Is(err, badger.ErrKeyNotFound) {
			gone = true // evicted since it was listed
			return nil
		} else if err != nil {
			return err
		}
		for _, k := range append(slices.Clip(refs), c.key, usedKey(usedBlob, c.sum[:])) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	s.openMu.Unlock()
	if err != nil {
		return false, nil, fmt.Errorf("evict blob %x: %w", c.sum, err)
	}
	if gone {
		return false, nil, nil
	}
	if s.refs != nil {
		for _, k := range refs {
			s.refs.Remove(string(k))
		}
	}
	// The header is gone: the chunks are invisible, and a failure (or a
	// crash) before they are deleted leaves them to the next Open's sweep.
	s.addUsed(-c.size)
	return true, claim, nil
}

// refsByBlob maps each blob to the archive references that name it, from
// one scan of the references (eviction is rare next to lookups, which
// stay one read without a reverse index).
func (s *Store) refsByBlob() (map[[32]byte][][]byte, error) {
	out := map[[32]byte][][]byte{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsRef), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_ = it.Item().Value(func(v []byte) error {
				if len(v) == 32 {
					sum := [32]byte(v)
					out[sum] = append(out[sum], it.Item().KeyCopy(nil))
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list archive references: %w", err)
	}
	return out, nil
}

// evictMeta removes one document and its last-use record.
func (s *Store) evictMeta(ctx context.Context, c candidate) (bool, error) {
	mu := s.stripe(c.key)
	mu.Lock()
	defer mu.Unlock()
	var size int64
	err := s.update(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(c.key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			size = 0
			return nil
		}
		if err != nil {
			return err
		}
		size = item.ValueSize()
		if err := txn.Delete(c.key); err != nil {
			return err
		}
		return txn.Delete(usedKey(usedMeta, c.key[len(nsMeta):]))
	})
	if err != nil {
		return false, fmt.Errorf("evict metadata: %w", err)
	}
	s.metas.remove(string(c.key))
	s.addUsed(-size)
	return size > 0, nil
}

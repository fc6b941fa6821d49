package cache

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Giving disk space back. Large values (blob chunks, documents of 64 KiB
// and more) live in Badger's value log, whose files its value-log GC
// rewrites only once its discard statistics say that enough of a file is
// garbage. Those statistics are kept by compactions alone: a deleted or
// replaced value counts only once a compaction met its key's newer
// version. A proxy writes few small records, so its memtables seldom fill
// and its compactions seldom run; before this file, evicted archives
// stayed on disk, and the directory grew with everything ever stored
// whatever the cap (measured in TestDiskStaysFlatUnderCap).
//
// So the store makes the compactions happen when it knows garbage is
// there: reclaim drops the evicted blobs' chunks with Badger's
// DropPrefix, which flushes the memtables and compacts every table that
// holds those keys, counting what it drops; a marker key, dropped with
// them, makes it flush and compact level 0 even when only documents were
// deleted or replaced. The value-log GC then finds the files to rewrite.
// (Flatten would not do: it compacts the tables, and the deletions are
// still in the memtables. A lower GC discard ratio would not either: with
// no statistics, the GC finds no file at all.)
//
// DropPrefix refuses writes while it runs (they would fail with
// ErrBlockedWrites), so every write of the store holds gate for reading
// and reclaim (and each value-log GC run, see collectGarbage) holds it for
// writing: writers wait for the compaction instead of failing (measured: 250 ms with 20,000 documents of 10 KB in the tree,
// 30 ms when it was just compacted). Recording a use does not wait: it is
// skipped.

// nsReclaim is this file's namespace (see keys.go): the marker key.
const nsReclaim = "v1/reclaim/"

var reclaimMarker = []byte(nsReclaim + "marker")

// write runs fn, a write to Badger, unless a reclaim is under way, when it
// waits for it.
func (s *Store) write(fn func() error) error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	return fn()
}

// blobChunkPrefix is the prefix of every chunk key of sum.
func blobChunkPrefix(sum [32]byte) []byte {
	return append([]byte(nsBlobChunk), sum[:]...)
}

// reclaim drops the keys under prefixes (chunks of evicted blobs, which no
// header names any more and no writer may write meanwhile), has the tree
// compacted so that the space of every deleted or replaced value is
// counted, and runs the value-log GC. It reports whether the prefixes
// were dropped; when they were not, the caller deletes them itself.
func (s *Store) reclaim(ctx context.Context, prefixes [][]byte) bool {
	start := time.Now()
	s.gate.Lock()
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(reclaimMarker, nil) })
	if err == nil {
		// The marker is there, so DropPrefix never finds nothing to do.
		// It flushes the memtables before it drops anything, so the
		// deleted headers are in tables on disk before their chunks go:
		// a crash never leaves a header without its chunks.
		err = s.db.DropPrefix(append([][]byte{reclaimMarker}, prefixes...)...)
	}
	s.gate.Unlock()
	s.garbage.Store(0)
	s.log.Debug("cache: compacted deleted content away", "blobs", len(prefixes), "writes_waited", time.Since(start))
	if err != nil {
		s.log.Warn("cache: could not compact the deleted content away; its disk space comes back later", "err", err)
		return false
	}
	s.collectGarbage(ctx)
	return true
}

// collectGarbage runs the value-log GC until it finds nothing more to
// rewrite, so that evicted bytes leave the disk.
func (s *Store) collectGarbage(ctx context.Context) {
	if s.opt.InMemory || s.opt.GCInterval < 0 {
		return
	}
	for ctx.Err() == nil {
		// Alone too: the GC's rewrite writes, which must not meet a
		// DropPrefix, and it reads the newest version of the memtable
		// (DB.MaxVersion) under a lock that Badger's writer does not take
		// when it sets it (a data race in Badger v4.9.6 that the race
		// detector reports as soon as a cache write runs beside it).
		s.gate.Lock()
		err := s.db.RunValueLogGC(gcDiscardRatio)
		s.gate.Unlock()
		if err == nil {
			s.log.Debug("cache: value log GC rewrote a file")
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.log.Warn("cache: value log GC failed", "err", err)
		}
		return
	}
}

// periodicGC is the GC of every GCInterval: it has the tree compacted
// first when large values were replaced or deleted since the last
// reclaim (a document that changed upstream, a failed PutBlob), so that
// without a cap too the space of replaced documents comes back.
func (s *Store) periodicGC(ctx context.Context) {
	if s.garbage.Load() > 0 {
		s.reclaim(ctx, nil)
		return
	}
	s.collectGarbage(ctx)
}

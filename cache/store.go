// Package cache is sigil's durable store: what sigil verified, and nothing
// else. One Badger database holds
//
//   - verified archives ("blobs"), content-addressed by sha256 and stored in
//     chunks so that neither writing nor reading one holds it in memory;
//   - archive references: which blob is served for an (ecosystem, package,
//     version, archive) — the first verified bytes are served for ever
//     after, so a re-zipped upstream archive does not change what clients get;
//   - upstream metadata documents with their HTTP validators;
//   - first-seen tree hashes of unsigned versions (trust on first use);
//   - the served state behind sigil's own Last-Modified and ETag;
//   - the release-log client's latest checkpoint, verified tiles and the
//     evidence of security errors (tlog.CheckpointStore, tlog.TileCache).
//
// Callers store only what they verified; the store re-checks what it can: a
// blob whose bytes do not hash to the claimed sha256 is refused, and an
// archive reference can only name a blob that is stored.
//
// # Atomicity and crashes
//
// Every record is written in one Badger transaction, so it is either there
// whole or not at all. A blob is larger than a transaction: its chunks are
// written first, flushed to disk, and only then the header that makes the
// blob visible. A crash before the header leaves chunks that nothing points
// at; Open deletes them. Records whose loss would weaken a guarantee are
// flushed to disk before the call returns: blob headers, archive
// references, pins, the checkpoint and security-error evidence. Metadata and
// served state are a cache of the upstream and of sigil's own answers; a
// crash may lose their last updates, which costs a refetch or a new
// Last-Modified, never a wrong answer.
//
// # Concurrency
//
// A Store is safe for concurrent use. Writers of one key inside the process
// take a striped lock, so the LRUs in front of Badger never hold a stale
// value; Badger's transaction conflicts (from anywhere) are retried.
//
// # Reading back
//
// Badger checks the CRC32-C of every value it reads from its value log, so a
// chunk corrupted on disk fails the read instead of being served. A chunk
// missing or of the wrong length under a stored header is reported as
// corruption, never as ErrNotFound.
//
// # Memory and disk
//
// Memory is bounded whatever the blob sizes: a blob reader holds one chunk
// (1 MiB), a writer two, or one of the blob's size for a blob smaller than
// a chunk (most archives); Blob.WriteTo, the serving path, holds none, as it
// writes each chunk straight from the memory-mapped value log, and then
// gives its pages back (mapped.go): they stay in the page cache, shared by
// all readers, not in sigil's resident memory. Badger keeps at most three 8 MiB
// memtables of small records (large values live in its value log), a
// 16 MiB block cache and a 16 MiB index cache; its value log is in files
// of at most 64 MiB, so it maps no more than the cache holds plus 128 MiB. The
// LRUs are bounded by Options. What is cached is bounded by Options.MaxSize:
// past it, the least recently used archives and metadata documents are
// evicted (see evict.go for what is never evicted and what a download being
// served is protected by). Each eviction then compacts its deletions away
// and runs the value-log GC (reclaim.go), so that the directory stays within
// twice the cap, plus two value-log files, plus the tree of small records.
//
// # Layout
//
// Every key starts with a layout version ("v1/") and a namespace; every
// untrusted string in a key is length-prefixed, so no key of one kind can
// equal a key of another. Open refuses a database written with a newer
// layout.
package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sigilproxy/sigil/tlog"
)

// ErrNotFound is returned, wrapped with the key, for anything the store
// does not hold. It is the same value as tlog.ErrNotFound, so the tile cache
// meets its contract and callers need to know only one sentinel.
var ErrNotFound = tlog.ErrNotFound

// Options configures a Store. The zero value is a sensible on-disk store.
type Options struct {
	// Logger receives the store's own messages and Badger's. Nil discards
	// them. Badger's informational chatter (compactions, table counts) is
	// logged at Debug; its warnings and errors at Warn and Error.
	Logger *slog.Logger

	// InMemory keeps everything in memory (for tests); dir must be "".
	// Nothing survives Close.
	InMemory bool

	// RecordCacheEntries bounds each LRU of small records (archive
	// references, pins, served state): at most this many entries each.
	// An entry costs its key (typically ~100 bytes, at most ~4 KiB) plus
	// ~100 bytes: with the default 8192, about 5 MiB for all three
	// typically. Zero means 8192; negative disables these LRUs.
	RecordCacheEntries int

	// MetaCacheBytes bounds the LRU of metadata documents by the sum of
	// their sizes. Documents larger than 1/16 of it are never cached in
	// memory, so that one huge document cannot flush the rest. Zero means
	// 32 MiB; negative disables it.
	MetaCacheBytes int64

	// MaxMetaSize is the largest metadata body PutMeta accepts. Zero means
	// 64 MiB. In memory mode it is at most 1 MiB less a few KiB, Badger's
	// limit on one value there.
	MaxMetaSize int

	// GCInterval is how often the value log is garbage collected (space of
	// overwritten metadata and of deleted chunks is reclaimed). Zero means
	// 10 minutes; negative disables it. It never runs in memory mode.
	GCInterval time.Duration

	// MaxSize caps the bytes of stored archives and metadata documents:
	// past it, the least recently used are evicted (see evict.go) down to
	// 90% of it. Zero or negative means no cap. Pins, key pins, served
	// state and log state are never evicted and not counted; nor is
	// Badger's own overhead. On disk, the directory stays within twice the
	// cap plus two value-log files (valueLogFileSize) and the tree of
	// small records (reclaim.go).
	MaxSize int64

	// KeepMappedUnder is a resident memory size (the process's RSS):
	// while the process is under it, and its resident file pages under
	// 64 MiB, the value log's pages a blob read maps stay mapped, so that
	// an archive served again is read from memory already mapped, as a
	// static server's page cache serves it; over either, they are given
	// back after each read (mapped.go). Zero gives them back after every
	// read. Pages a write or a document read maps are always given back.
	KeepMappedUnder int64
}

const (
	defaultRecordCacheEntries = 8192
	defaultMetaCacheBytes     = 32 << 20
	defaultMaxMetaSize        = 64 << 20
	defaultGCInterval         = 10 * time.Minute

	// The value log's file size bounds what one GC rewrite reclaims and
	// how much garbage can wait in the newest file, which GC never
	// rewrites: a fraction of the cap, within Badger's limits. At most
	// 64 MiB, so that the file being written (mapped at twice its size)
	// maps 128 MiB, not gigabytes.
	minValueLogFile = 16 << 20
	maxValueLogFile = 64 << 20

	// valueThreshold is the size from which a value lives in the value
	// log rather than in the tree.
	valueThreshold = 64 << 10

	// inMemoryMaxValue is the largest value Badger takes in memory mode:
	// values must stay below the value threshold, which is at most 1 MiB.
	inMemoryMaxValue = 1<<20 - 1

	// gcDiscardRatio is Badger's recommendation: a value-log file is
	// rewritten when half of it is garbage, for a lifetime write
	// amplification of about 2.
	gcDiscardRatio = 0.5

	// maxConflictRetries bounds the retries of a transaction that
	// conflicted with another. Writers of one key inside the process are
	// serialized, so a conflict is rare and a long streak means a bug.
	maxConflictRetries = 32

	// lockStripes is the number of striped locks serializing in-process
	// writers of one key. Collisions only serialize short transactions.
	lockStripes = 256
)

// Store is sigil's cache over one Badger database. Create it with Open and
// release it with Close.
type Store struct {
	db  *badger.DB
	log *slog.Logger
	opt Options

	// chunkSize is the chunk size of new blobs: maxChunkSize on disk,
	// smaller in memory mode, where Badger takes no value of 1 MiB.
	chunkSize int64

	seed    maphash.Seed
	stripes [lockStripes]sync.Mutex

	// inflight serializes PutBlob per sha256: a later writer waits for the
	// earlier one and then finds the blob stored.
	inflightMu sync.Mutex
	inflight   map[[32]byte]chan struct{}

	// used is the bytes of stored blobs and documents (Usage).
	used atomic.Int64
	// touched remembers when last-use records were written (evict.go).
	touched *lru.Cache[string, time.Time]
	// openMu guards open (readers per blob) and fresh (blobs stored and
	// not yet opened), which keep a blob from eviction.
	openMu    sync.Mutex
	open      map[[32]byte]int
	fresh     map[[32]byte]time.Time
	evictMu   sync.Mutex // one eviction at a time
	evictWake chan struct{}
	evictDone chan struct{}
	// gate keeps writes away from a reclaim (reclaim.go); garbage counts
	// the bytes of large values replaced since the last one.
	gate    sync.RWMutex
	garbage atomic.Int64

	refs   *lru.Cache[string, [32]byte]
	pins   *lru.Cache[string, pin]
	served *lru.Cache[string, servedState]
	metas  *metaLRU

	defaultLog *LogState

	// vmaps finds the value log's mappings, whose pages a write, and a
	// read over Options.KeepMappedUnder, gives back (mapped.go); nil in
	// memory mode.
	vmaps *valueLogMaps

	// now is time.Now, replaced in tests.
	now func() time.Time

	stopGC context.CancelFunc
	gcDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var (
	_ tlog.CheckpointStore = (*Store)(nil)
	_ tlog.TileCache       = (*Store)(nil)
)

// Open opens (creating if needed) the store in dir. With opts.InMemory, dir
// must be "". Only one process may open a directory at a time.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RecordCacheEntries == 0 {
		opts.RecordCacheEntries = defaultRecordCacheEntries
	}
	if opts.MetaCacheBytes == 0 {
		opts.MetaCacheBytes = defaultMetaCacheBytes
	}
	if opts.MaxMetaSize <= 0 {
		opts.MaxMetaSize = defaultMaxMetaSize
	}
	if opts.GCInterval == 0 {
		opts.GCInterval = defaultGCInterval
	}
	if opts.InMemory && dir != "" {
		return nil, fmt.Errorf("open cache: in-memory mode takes no directory (got %q)", dir)
	}
	if !opts.InMemory && dir == "" {
		return nil, errors.New("open cache: no directory given")
	}

	bo := badger.DefaultOptions(dir).
		WithInMemory(opts.InMemory).
		WithLogger(badgerLogger{opts.Logger.With("component", "badger")}).
		// Values of 64 KiB and more (blob chunks, large documents) go to the
		// value log, keeping the LSM tree small and compactions cheap.
		WithValueThreshold(valueThreshold).
		// A local proxy should not reserve Badger's server-sized defaults
		// (5 × 64 MiB memtables, 256 MiB block cache, 1 GiB value-log
		// files, each mapped whole and the one being written mapped at
		// twice its size). Memtables hold only small records here, since
		// large values live in the value log; their write-ahead logs are
		// mapped at twice their size. Each memtable is allocated whole
		// (with Badger's slack, 10 MiB for 8), so its size is resident
		// memory: 8 MiB is a few thousand documents and records, flushed
		// to a table when full.
		WithMemTableSize(8 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(16 << 20).
		// Table indexes of a large cache stay bounded too.
		WithIndexCacheSize(16 << 20).
		// Two cores are common on a CI runner; four compactors compete
		// with serving for them.
		WithNumCompactors(2).
		// Catch disk corruption of a value (a blob chunk) before it is
		// served; CRC32-C costs far less than the network it feeds.
		WithVerifyValueChecksum(true).
		// Small value-log files (see valueLogFileSize): the one being
		// written is mapped at twice its size.
		WithValueLogFileSize(valueLogFileSize(opts.MaxSize))
	if opts.InMemory {
		// Without a value log, Badger takes no value larger than the value
		// threshold (at most 1 MiB), and a whole value counts against a
		// transaction: 15% of a memtable, 2.4 MiB here, room for the
		// largest document. A small memtable keeps tests fast.
		bo = bo.WithValueThreshold(inMemoryMaxValue + 1).WithMemTableSize(16 << 20)
		opts.MaxMetaSize = min(opts.MaxMetaSize, inMemoryMaxValue-metaOverhead)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open cache in %q: %w", dir, err)
	}
	s := &Store{
		db:        db,
		vmaps:     newValueLogMaps(dir, opts.KeepMappedUnder),
		log:       opts.Logger,
		opt:       opts,
		seed:      maphash.MakeSeed(),
		inflight:  make(map[[32]byte]chan struct{}),
		open:      make(map[[32]byte]int),
		fresh:     make(map[[32]byte]time.Time),
		evictWake: make(chan struct{}, 1),
		evictDone: make(chan struct{}),
		now:       time.Now,
		chunkSize: maxChunkSize,
	}
	if opts.InMemory {
		s.chunkSize = inMemoryChunkSize
	}
	s.defaultLog = &LogState{s: s, prefix: logPrefix("")}
	if n := opts.RecordCacheEntries; n > 0 {
		s.refs, _ = lru.New[string, [32]byte](n) // errors only for n <= 0
		s.pins, _ = lru.New[string, pin](n)
		s.served, _ = lru.New[string, servedState](n)
	}
	if opts.MetaCacheBytes > 0 {
		s.metas = newMetaLRU(opts.MetaCacheBytes)
	}
	s.touched, _ = lru.New[string, time.Time](touchedEntries)

	if err := s.checkLayout(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.sweepOrphanChunks(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.measure(); err != nil {
		db.Close()
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.stopGC = cancel
	s.gcDone = make(chan struct{})
	go s.gcLoop(ctx)
	go s.evictLoop(ctx)
	if opts.MaxSize > 0 && s.used.Load() > opts.MaxSize {
		s.wakeEvictor() // the cap was lowered since the last run
	}
	return s, nil
}

// Close stops the value-log GC, flushes everything to disk and closes the
// database. It is safe to call more than once; calls after the first return
// the first result. Operations after Close fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopGC()
		<-s.gcDone
		<-s.evictDone
		// Badger's Close flushes the memtables to tables and syncs them.
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close cache: %w", err)
		}
	})
	return s.closeErr
}

// gcLoop runs the value-log GC every GCInterval until ctx ends.
func (s *Store) gcLoop(ctx context.Context) {
	defer close(s.gcDone)
	if s.opt.InMemory || s.opt.GCInterval < 0 {
		return
	}
	t := time.NewTicker(s.opt.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.periodicGC(ctx)
	}
}

// valueLogFileSize is an eighth of the cap, within minValueLogFile and
// maxValueLogFile; maxValueLogFile without a cap.
func valueLogFileSize(maxSize int64) int64 {
	if maxSize <= 0 {
		return maxValueLogFile
	}
	return min(max(maxSize/8, minValueLogFile), maxValueLogFile)
}

// layoutKey is outside every versioned namespace: it says which layout the
// rest of the keys follow.
var layoutKey = []byte("sigil-cache-layout")

const layoutVersion = "v1"

func (s *Store) checkLayout() error {
	return s.update(context.Background(), func(txn *badger.Txn) error {
		item, err := txn.Get(layoutKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(layoutKey, []byte(layoutVersion))
		}
		if err != nil {
			return fmt.Errorf("read cache layout: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read cache layout: %w", err)
		}
		if string(v) != layoutVersion {
			return fmt.Errorf("cache layout is %q, this sigil reads %q (written by another version of sigil?)\nhint: use another cache directory, or remove this one to start afresh", v, layoutVersion)
		}
		return nil
	})
}

// update runs fn in a read-write transaction, retrying it when it
// conflicted with a concurrent one. fn must be safe to run more than once.
func (s *Store) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	for attempt := 1; ; attempt++ {
		err := s.write(func() error { return s.db.Update(fn) })
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		if attempt == maxConflictRetries {
			return fmt.Errorf("gave up after %d conflicting transactions: %w", attempt, err)
		}
		// Jittered backoff, so that two writers do not collide again.
		d := time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// sync makes every committed write durable. It is a no-op in memory mode.
func (s *Store) sync() error {
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync cache to disk: %w", err)
	}
	return nil
}

// stripe returns the lock that serializes in-process writers of key.
func (s *Store) stripe(key []byte) *sync.Mutex {
	return &s.stripes[maphash.Bytes(s.seed, key)%lockStripes]
}

// get copies the value of key, or returns badger.ErrKeyNotFound.
func (s *Store) get(key []byte) ([]byte, error) {
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(val []byte) error {
			v = bytes.Clone(val)
			// Copied out, the pages serve no later read: unlike a blob's
			// (Blob.WriteTo writes from them), they are always given back.
			s.vmaps.dropMapped(val)
			return nil
		})
	})
	return v, err
}

// badgerLogger routes Badger's printf-style logging to slog. Badger's Info
// messages (tables opened, compactions) are for Badger's developers, not for
// someone running a proxy: they go to Debug. So do its warnings that a
// block or index cache "might be too small" (with a multi-line histogram,
// every minute): sigil sizes those caches small on purpose, to keep its
// memory flat, and reads archives past them.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.logf(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) {
	level := slog.LevelWarn
	if strings.HasPrefix(f, "%s might be too small") || strings.HasPrefix(f, "Cache life expectancy") {
		level = slog.LevelDebug
	}
	b.logf(level, f, a)
}
func (b badgerLogger) Infof(f string, a ...any)  { b.logf(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any) { b.logf(slog.LevelDebug, f, a) }

func (b badgerLogger) logf(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return // skip formatting what nobody reads
	}
	b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(f, a...)))
}

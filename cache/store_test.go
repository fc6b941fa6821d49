package cache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// testLogger sends the store's logs (and Badger's warnings) to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func newMemStore(t testing.TB) *Store {
	t.Helper()
	return newMemStoreOpts(t, Options{})
}

func newMemStoreOpts(t testing.TB, opts Options) *Store {
	t.Helper()
	opts.InMemory = true
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openDisk(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// content returns n pseudo-random bytes (deterministic per seed) and their
// sha256.
func content(seed uint64, n int) ([]byte, [32]byte) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b, sha256.Sum256(b)
}

// countKeys counts the keys under prefix, to check that nothing was left
// behind.
func countKeys(t testing.TB, s *Store, prefix string) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenOptions(t *testing.T) {
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open with no directory and not in memory succeeded")
	}
	if _, err := Open(t.TempDir(), Options{InMemory: true}); err == nil {
		t.Error("Open in memory with a directory succeeded")
	}
	s := newMemStoreOpts(t, Options{RecordCacheEntries: -1, MetaCacheBytes: -1})
	if s.refs != nil || s.metas != nil {
		t.Error("negative sizes did not disable the LRUs")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := s.ArchiveRef(t.Context(), ArchiveKey{"composer", "a/b", "1.0.0", "dist"}); err == nil {
		t.Error("ArchiveRef after Close succeeded")
	}
}

func TestLayoutVersionChecked(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(layoutKey, []byte("v9")) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(dir, Options{Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("Open of a newer layout: %v, want an error with a hint", err)
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	// With a plain "/" join these two would be one key.
	a, err := ArchiveKey{"composer", "a/b", "1", "x"}.key()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ArchiveKey{"composer", "a", "b/1", "x"}.key()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("different archive keys encode alike")
	}
	for _, bad := range []ArchiveKey{
		{"", "a/b", "1", "x"},
		{"composer", "", "1", "x"},
		{"composer", "a/b", "", "x"},
		{"composer", "a/b", "1", ""},
		{"composer", strings.Repeat("a", maxNameLen+1), "1", "x"},
		{"composer", "a/b", "1", strings.Repeat("u", maxKeyLen+1)},
	} {
		if _, err := bad.key(); err == nil {
			t.Errorf("key %.80v accepted", bad)
		}
	}
}

func TestUpdateRetriesConflicts(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	k := []byte("test-counter")
	attempts := 0
	err := s.update(ctx, func(txn *badger.Txn) error {
		attempts++
		if _, err := txn.Get(k); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if attempts == 1 {
			// A write by another transaction after our read: our commit
			// must conflict and be retried.
			if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, []byte("other")) }); err != nil {
				return err
			}
		}
		return txn.Set(k, []byte("ours"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("ran %d times, want 2 (one conflict, one retry)", attempts)
	}
	if v, _ := s.get(k); string(v) != "ours" {
		t.Errorf("value %q, want %q", v, "ours")
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openDisk(t, dir)

	data, sum := content(1, 3*int(s.chunkSize)+5)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	ak := ArchiveKey{"composer", "acme/foo", "1.2.3", "https://example.test/foo.zip"}
	if _, err := s.PutArchiveRefIfAbsent(ctx, ak, sum); err != nil {
		t.Fatal(err)
	}
	meta := Meta{Body: []byte(`{"packages":{}}`), ETag: `"abc"`, LastModified: "Mon, 02 Jan 2006 15:04:05 GMT", FetchedAt: time.Unix(1700000000, 0)}
	if err := s.PutMeta(ctx, "https://repo.test/p2/acme/foo.json", meta); err != nil {
		t.Fatal(err)
	}
	_, seen, err := s.PinTree(ctx, "composer", "acme/bar", "1.0.0", "h1:tree")
	if err != nil {
		t.Fatal(err)
	}
	lm, err := s.ServedState(ctx, "/composer/p2/acme/foo.json", []byte("digest1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SwapCheckpoint(ctx, nil, []byte("checkpoint 1")); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSecurityError(ctx, []byte("evidence")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTile(ctx, "tile/0/000", []byte("tile")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDisk(t, dir)
	defer s.Close()
	b, err := s.OpenBlob(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, b)
	if !bytes.Equal(got, data) {
		t.Error("blob differs after reopening")
	}
	if got, ok, err := s.ArchiveRef(ctx, ak); err != nil || !ok || got != sum {
		t.Errorf("ArchiveRef after reopening = %x, %v, %v", got, ok, err)
	}
	if got, err := s.GetMeta(ctx, "https://repo.test/p2/acme/foo.json"); err != nil || !metaEqual(got, meta) {
		t.Errorf("GetMeta after reopening = %+v, %v", got, err)
	}
	if tree, seen2, err := s.PinnedTree(ctx, "composer", "acme/bar", "1.0.0"); err != nil || tree != "h1:tree" || !seen2.Equal(seen) {
		t.Errorf("PinnedTree after reopening = %q, %v, %v", tree, seen2, err)
	}
	if lm2, err := s.ServedState(ctx, "/composer/p2/acme/foo.json", []byte("digest1")); err != nil || !lm2.Equal(lm) {
		t.Errorf("ServedState after reopening = %v, %v; want %v", lm2, err, lm)
	}
	if cp, err := s.Checkpoint(ctx); err != nil || string(cp) != "checkpoint 1" {
		t.Errorf("Checkpoint after reopening = %q, %v", cp, err)
	}
	if ev, err := s.SecurityErrors(ctx); err != nil || len(ev) != 1 || string(ev[0]) != "evidence" {
		t.Errorf("SecurityErrors after reopening = %q, %v", ev, err)
	}
	if tile, err := s.Tile(ctx, "tile/0/000"); err != nil || string(tile) != "tile" {
		t.Errorf("Tile after reopening = %q, %v", tile, err)
	}
}

func metaEqual(a, b Meta) bool {
	return bytes.Equal(a.Body, b.Body) && a.ETag == b.ETag && a.LastModified == b.LastModified && a.FetchedAt.Equal(b.FetchedAt)
}

func TestGCLoopStopsOnClose(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: testLogger(t), GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Give the loop something to reclaim: overwritten large documents.
	for i := range 20 {
		body, _ := content(uint64(i), 200<<10)
		if err := s.PutMeta(t.Context(), "k", Meta{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the GC loop did not stop")
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func TestBadgerLogsGoToSlog(t *testing.T) {
	var buf safeBuffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(t.TempDir(), Options{Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	out := buf.String()
	if !strings.Contains(out, "component=badger") || !strings.Contains(out, "level=DEBUG") {
		t.Errorf("no Badger messages at Debug in the log:\n%s", out)
	}
	if strings.Contains(out, "level=INFO") {
		t.Errorf("Badger's chatter logged at Info:\n%s", out)
	}
}

// safeBuffer is a bytes.Buffer for a logger used by Badger's goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBadgerCacheHintsQuiet: Badger's minutely hint that its caches might
// be too small is not a warning to sigil's user; its real warnings are.
func TestBadgerCacheHintsQuiet(t *testing.T) {
	var out bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l.Warningf("%s might be too small. Metrics: %s\n", "Block cache", "hit: 1 miss: 9")
	l.Warningf("Cache life expectancy (in seconds): %+v\n", "histogram")
	if out.Len() != 0 {
		t.Errorf("cache size hints logged at the default level:\n%s", out.String())
	}
	l.Warningf("Value log GC failed: %v", "disk full")
	if !strings.Contains(out.String(), "level=WARN") || !strings.Contains(out.String(), "disk full") {
		t.Errorf("a real Badger warning was not logged as one:\n%q", out.String())
	}
}

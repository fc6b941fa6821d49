package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"
)

// clock is a test's time, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cappedStore is an in-memory store with the given cap and a test clock.
func cappedStore(t *testing.T, max int64) (*Store, *clock) {
	t.Helper()
	s := newMemStoreOpts(t, Options{MaxSize: max})
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.now = c.now
	return s, c
}

// putArchive stores a blob of n bytes under an archive reference, as the
// proxy does, and opens and closes it once (as serving it does).
func putArchive(t *testing.T, s *Store, name string, n int) [32]byte {
	t.Helper()
	data, sum := content(seedOf(name), n)
	ctx := t.Context()
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutArchiveRefIfAbsent(ctx, archiveKey(name), sum); err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenBlob(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	return sum
}

func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

func archiveKey(name string) ArchiveKey {
	return ArchiveKey{Ecosystem: "npm", Package: name, Version: "1.0.0", Archive: "https://registry.test/" + name + ".tgz"}
}

func hasBlob(t *testing.T, s *Store, sum [32]byte) bool {
	t.Helper()
	ok, err := s.HasBlob(t.Context(), sum)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestEvictLeastRecentlyUsed: over the cap, the archives used least
// recently go, with their references; what was used lately, pins, key
// pins and log state stay, and the usage ends under the cap.
func TestEvictLeastRecentlyUsed(t *testing.T) {
	const size = 300 << 10
	s, clk := cappedStore(t, 4*size)
	ctx := t.Context()
	if _, _, err := s.PinTree(ctx, "npm", "a0", "1.0.0", "h1:tree"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PinNPMKeys(ctx, "https://registry.test/", map[string]string{"k1": "key"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SwapCheckpoint(ctx, nil, []byte("checkpoint")); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSecurityError(ctx, []byte("evidence")); err != nil {
		t.Fatal(err)
	}
	var sums [][32]byte
	for i := range 4 {
		sums = append(sums, putArchive(t, s, fmt.Sprintf("a%d", i), size))
		clk.add(2 * time.Hour)
	}
	// a0 is the oldest stored but used last: it stays.
	b, err := s.OpenBlob(ctx, sums[0])
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	clk.add(2 * time.Hour)
	// Storing a4 goes over the cap and wakes the store's own eviction,
	// which races with the test: evict here too, so that a1 and a2 go
	// before a5 is stored whichever runs first (a5 then fills the store
	// to the cap exactly, which is no reason to evict).
	sums = append(sums, putArchive(t, s, "a4", size))
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}
	sums = append(sums, putArchive(t, s, "a5", size))
	clk.add(2 * freshGrace)
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}

	if used, max := s.Usage(); used > max || max != 4*size {
		t.Errorf("usage %d of %d after eviction", used, max)
	}
	for i, want := range []bool{true, false, false, true, true, true} {
		if got := hasBlob(t, s, sums[i]); got != want {
			t.Errorf("a%d stored: %v, want %v", i, got, want)
		}
		_, ok, err := s.ArchiveRef(ctx, archiveKey(fmt.Sprintf("a%d", i)))
		if err != nil || ok != want {
			t.Errorf("a%d reference: %v %v, want %v", i, ok, err, want)
		}
	}
	if tree, _, err := s.PinnedTree(ctx, "npm", "a0", "1.0.0"); err != nil || tree != "h1:tree" {
		t.Errorf("pin after eviction: %q %v", tree, err)
	}
	if keys, err := s.PinNPMKeys(ctx, "https://registry.test/", nil); err != nil || keys["k1"] != "key" {
		t.Errorf("registry key pins after eviction: %v %v", keys, err)
	}
	if cp, err := s.Checkpoint(ctx); err != nil || string(cp) != "checkpoint" {
		t.Errorf("checkpoint after eviction: %q %v", cp, err)
	}
	if ev, err := s.SecurityErrors(ctx); err != nil || len(ev) != 1 {
		t.Errorf("security errors after eviction: %q %v", ev, err)
	}

	// An evicted archive can be stored again.
	putArchive(t, s, "a1", size)
	if !hasBlob(t, s, sums[1]) {
		t.Error("an evicted archive could not be stored again")
	}
}

// TestEvictSparesOpenBlob: a blob being served is not evicted, and reads to
// its end; once closed it can go.
func TestEvictSparesOpenBlob(t *testing.T) {
	const size = 700 << 10
	s, clk := cappedStore(t, size)
	ctx := t.Context()
	sum := putArchive(t, s, "open", size)
	b, err := s.OpenBlob(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	clk.add(time.Hour)
	putArchive(t, s, "newer", size)
	clk.add(2 * freshGrace)
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}
	if !hasBlob(t, s, sum) {
		t.Fatal("an open blob was evicted")
	}
	want, _ := content(seedOf("open"), size)
	if got := readAll(t, b); !bytes.Equal(got, want) {
		t.Fatal("an open blob read other bytes")
	}
	b.Close()
	clk.add(time.Hour)
	putArchive(t, s, "third", size)
	clk.add(2 * freshGrace)
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}
	if hasBlob(t, s, sum) {
		t.Error("a closed blob, least recently used, was not evicted")
	}
}

// TestEvictSparesFreshBlob: between PutBlob and the first OpenBlob (the
// request that stored it is about to serve it), a blob stays.
func TestEvictSparesFreshBlob(t *testing.T) {
	const size = 700 << 10
	s, clk := cappedStore(t, size/2)
	ctx := t.Context()
	data, sum := content(1, size)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenBlob(ctx, sum)
	if err != nil {
		t.Fatalf("a blob just stored was evicted before it was served: %v", err)
	}
	b.Close()
	clk.add(time.Hour)
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}
	if hasBlob(t, s, sum) {
		t.Error("blob over the cap not evicted after it was served")
	}
	if used, _ := s.Usage(); used != 0 {
		t.Errorf("usage %d with nothing stored", used)
	}
}

// TestEvictMetadata: documents count against the cap and go least
// recently used first; an evicted one is a miss.
func TestEvictMetadata(t *testing.T) {
	s, clk := cappedStore(t, 3500)
	ctx := t.Context()
	body := bytes.Repeat([]byte("x"), 1000)
	for i := range 5 {
		if err := s.PutMeta(ctx, fmt.Sprintf("https://registry.test/doc%d", i), Meta{Body: body, FetchedAt: clk.now()}); err != nil {
			t.Fatal(err)
		}
		clk.add(2 * time.Hour)
		if i == 2 {
			// doc0 is read again, before anything is evicted: used lately.
			if _, err := s.GetMeta(ctx, "https://registry.test/doc0"); err != nil {
				t.Fatal(err)
			}
			clk.add(2 * time.Hour)
		}
	}
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, false, true, true} {
		_, err := s.GetMeta(ctx, fmt.Sprintf("https://registry.test/doc%d", i))
		if got := err == nil; got != want || (err != nil && !errors.Is(err, ErrNotFound)) {
			t.Errorf("doc%d kept %v (%v), want %v", i, got, err, want)
		}
	}
	if used, max := s.Usage(); used > max {
		t.Errorf("usage %d over %d", used, max)
	}
	// Rewriting a document counts its size once.
	before, _ := s.Usage()
	if err := s.PutMeta(ctx, "https://registry.test/doc4", Meta{Body: body, FetchedAt: clk.now()}); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Usage(); after != before {
		t.Errorf("rewriting a document moved the usage %d → %d", before, after)
	}
}

// TestUsageSurvivesReopen: the usage is measured again at Open, and a cap
// lowered between runs is enforced.
func TestUsageSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir)
	for i := range 3 {
		putArchive(t, s, fmt.Sprintf("r%d", i), 200<<10)
	}
	if err := s.PutMeta(t.Context(), "https://registry.test/doc", Meta{Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	used, _ := s.Usage()
	s.Close()
	if used < 3*200<<10 {
		t.Fatalf("usage %d", used)
	}
	s2, err := Open(dir, Options{Logger: testLogger(t), MaxSize: 250 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.evict(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, max := s2.Usage(); got > max {
		t.Errorf("after reopening with a lower cap: %d over %d (was %d)", got, max, used)
	}
}

// TestEvictConcurrentWithServing: installs keep working while eviction
// runs: every archive served reads whole, whatever is evicted meanwhile.
func TestEvictConcurrentWithServing(t *testing.T) {
	const size = 200 << 10
	s := newMemStoreOpts(t, Options{MaxSize: 3 * size})
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 8 {
				data, sum := content(uint64(w*100+i%3), size)
				if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
					errs <- err
					return
				}
				b, err := s.OpenBlob(ctx, sum)
				if err != nil {
					errs <- fmt.Errorf("open right after put: %w", err)
					return
				}
				got := make([]byte, size)
				_, err = b.ReadAt(got, 0)
				b.Close()
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("read while evicting: %v", err)
					return
				}
				if err := s.evict(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

package cache

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestArchiveRefs(t *testing.T) {
	for _, entries := range []int{0, -1} {
		t.Run(fmt.Sprintf("RecordCacheEntries=%d", entries), func(t *testing.T) {
			s := newMemStoreOpts(t, Options{RecordCacheEntries: entries})
			ctx := t.Context()
			key := ArchiveKey{"composer", "acme/foo", "1.0.0", "https://example.test/acme/foo/1.0.0.zip"}
			if _, ok, err := s.ArchiveRef(ctx, key); err != nil || ok {
				t.Fatalf("ArchiveRef before any = %v, %v", ok, err)
			}
			data1, sum1 := content(1, 100)
			data2, sum2 := content(2, 100)

			// A reference never names a blob that is not stored.
			if _, err := s.PutArchiveRefIfAbsent(ctx, key, sum1); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "acme/foo") {
				t.Fatalf("reference to a missing blob: %v, want ErrNotFound naming the key", err)
			}
			if _, ok, _ := s.ArchiveRef(ctx, key); ok {
				t.Fatal("reference to a missing blob was stored")
			}

			for _, b := range []struct {
				data []byte
				sum  [32]byte
			}{{data1, sum1}, {data2, sum2}} {
				if err := s.PutBlob(ctx, b.sum, bytes.NewReader(b.data)); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.PutArchiveRefIfAbsent(ctx, key, sum1); err != nil || got != sum1 {
				t.Fatalf("first PutArchiveRefIfAbsent = %x, %v", got, err)
			}
			// The first verified bytes are served for ever after.
			if got, err := s.PutArchiveRefIfAbsent(ctx, key, sum2); err != nil || got != sum1 {
				t.Fatalf("second PutArchiveRefIfAbsent = %x, %v; want the first %x", got, err, sum1)
			}
			if got, ok, err := s.ArchiveRef(ctx, key); err != nil || !ok || got != sum1 {
				t.Fatalf("ArchiveRef = %x, %v, %v", got, ok, err)
			}
			other := key
			other.Version = "1.0.1"
			if _, ok, _ := s.ArchiveRef(ctx, other); ok {
				t.Error("a reference of another version")
			}
			if _, _, err := s.ArchiveRef(ctx, ArchiveKey{"composer", "acme/foo", "1.0.0", ""}); err == nil {
				t.Error("ArchiveRef with an empty field succeeded")
			}
		})
	}
}

func TestMeta(t *testing.T) {
	for _, bytes := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MetaCacheBytes=%d", bytes), func(t *testing.T) {
			testMeta(t, newMemStoreOpts(t, Options{MetaCacheBytes: bytes, MaxMetaSize: 1000}))
		})
	}
}

func testMeta(t *testing.T, s *Store) {
	ctx := t.Context()
	const key = "https://composer.example.test/p2/acme/foo.json"
	if _, err := s.GetMeta(ctx, key); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), key) {
		t.Fatalf("GetMeta before any: %v, want ErrNotFound naming the key", err)
	}
	m := Meta{Body: []byte(`{"packages":{"acme/foo":[]}}`), ETag: `W/"1"`, LastModified: "Tue, 01 Sep 2026 10:00:00 GMT", FetchedAt: time.Date(2026, 9, 1, 10, 0, 1, 5, time.UTC)}
	if err := s.PutMeta(ctx, key, m); err != nil {
		t.Fatal(err)
	}
	m.Body[0] = 'X' // PutMeta kept no reference
	m.Body[0] = '{'
	for range 2 { // from Badger, then from the LRU
		got, err := s.GetMeta(ctx, key)
		if err != nil || !metaEqual(got, m) {
			t.Fatalf("GetMeta = %+v, %v; want %+v", got, err, m)
		}
		got.Body[0] = 'X' // the caller's own
	}
	m2 := Meta{Body: []byte(`{}`), FetchedAt: time.Now()}
	if err := s.PutMeta(ctx, key, m2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetMeta(ctx, key); err != nil || !metaEqual(got, m2) {
		t.Fatalf("GetMeta after replacing = %+v, %v", got, err)
	}
	if err := s.PutMeta(ctx, key, Meta{Body: make([]byte, 1001)}); err == nil {
		t.Error("PutMeta over MaxMetaSize succeeded")
	}
	if err := s.PutMeta(ctx, key, Meta{ETag: strings.Repeat("e", maxKeyLen+1)}); err == nil {
		t.Error("PutMeta with a huge ETag succeeded")
	}
	if got, _ := s.GetMeta(ctx, key); !metaEqual(got, m2) {
		t.Error("a refused PutMeta changed the document")
	}
	if err := s.PutMeta(ctx, "", m); err == nil {
		t.Error("PutMeta with an empty key succeeded")
	}
	if err := s.PutMeta(ctx, strings.Repeat("k", maxKeyLen+1), m); err == nil {
		t.Error("PutMeta with a huge key succeeded")
	}
}

func TestMetaLRUBoundedByBytes(t *testing.T) {
	c := newMetaLRU(16 << 10)
	for i := range 100 {
		c.add(fmt.Sprint(i), Meta{Body: make([]byte, 500)})
		if c.bytes > c.max {
			t.Fatalf("after %d entries: %d bytes cached, limit %d", i+1, c.bytes, c.max)
		}
	}
	if _, ok := c.get("99"); !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok := c.get("0"); ok {
		t.Error("the oldest entry was kept")
	}
	// Too large for the cache: not kept, and any older entry for the key
	// is dropped, as it is stale.
	c.add("99", Meta{Body: make([]byte, c.maxEntry)})
	if _, ok := c.get("99"); ok {
		t.Error("an entry larger than maxEntry was cached")
	}
	var sum int64
	for _, k := range c.l.Keys() {
		m, _ := c.l.Peek(k)
		sum += metaCost(k, m)
	}
	if sum != c.bytes {
		t.Errorf("accounted %d bytes, entries hold %d", c.bytes, sum)
	}
}

func TestMetaInMemoryLimit(t *testing.T) {
	s := newMemStore(t)
	body := make([]byte, s.opt.MaxMetaSize)
	if err := s.PutMeta(t.Context(), "big", Meta{Body: body, ETag: strings.Repeat("e", maxKeyLen), LastModified: strings.Repeat("l", maxKeyLen), FetchedAt: time.Now()}); err != nil {
		t.Fatalf("PutMeta of the largest document in memory mode: %v", err)
	}
	if err := s.PutMeta(t.Context(), "big", Meta{Body: make([]byte, s.opt.MaxMetaSize+1)}); err == nil {
		t.Fatal("PutMeta over the limit succeeded")
	}
}

func TestMetaConcurrent(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Sprint("doc", i%5)
				if w%2 == 0 {
					if err := s.PutMeta(ctx, key, Meta{Body: fmt.Appendf(nil, "%d/%d", w, i)}); err != nil {
						t.Error(err)
					}
				} else if _, err := s.GetMeta(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// The LRU agrees with Badger.
	for i := range 5 {
		key := fmt.Sprint("doc", i)
		k, _ := metaKey(key)
		cached, ok := s.metas.get(string(k))
		v, err := s.get(k)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := decodeMeta(v)
		if ok && !bytes.Equal(cached.Body, stored.Body) {
			t.Errorf("%s: LRU holds %q, Badger %q", key, cached.Body, stored.Body)
		}
	}
}

func TestPinTree(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	if _, _, err := s.PinnedTree(ctx, "npm", "left-pad", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PinnedTree before any: %v", err)
	}
	pinned, seen, err := s.PinTree(ctx, "npm", "left-pad", "1.0.0", "h1:first")
	if err != nil || pinned != "h1:first" || seen.IsZero() {
		t.Fatalf("first PinTree = %q, %v, %v", pinned, seen, err)
	}
	pinned2, seen2, err := s.PinTree(ctx, "npm", "left-pad", "1.0.0", "h1:second")
	if err != nil || pinned2 != "h1:first" || !seen2.Equal(seen) {
		t.Fatalf("second PinTree = %q, %v, %v; want the first pin", pinned2, seen2, err)
	}
	if tree, seen3, err := s.PinnedTree(ctx, "npm", "left-pad", "1.0.0"); err != nil || tree != "h1:first" || !seen3.Equal(seen) {
		t.Fatalf("PinnedTree = %q, %v, %v", tree, seen3, err)
	}
	if pinned, _, _ := s.PinTree(ctx, "npm", "left-pad", "1.0.1", "h1:other"); pinned != "h1:other" {
		t.Error("a pin leaked to another version")
	}
	if pinned, _, _ := s.PinTree(ctx, "composer", "left-pad", "1.0.0", "h1:other"); pinned != "h1:other" {
		t.Error("a pin leaked to another ecosystem")
	}
	if _, _, err := s.PinTree(ctx, "npm", "left-pad", "1.0.0", ""); err == nil {
		t.Error("PinTree of an empty tree succeeded")
	}
}

func TestPinTreeConcurrent(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	results := make(chan string, 32)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			pinned, _, err := s.PinTree(ctx, "npm", "x", "1.0.0", fmt.Sprint("h1:", w))
			if err != nil {
				t.Error(err)
			}
			results <- pinned
		})
	}
	wg.Wait()
	close(results)
	first := <-results
	for r := range results {
		if r != first {
			t.Fatalf("two pins for one version: %q and %q", first, r)
		}
	}
}

func TestServedState(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	clock := time.Date(2026, 5, 1, 12, 0, 0, 700_000_000, time.UTC)
	s.now = func() time.Time { return clock }
	const key = "/composer/p2/acme/foo.json"

	t1, err := s.ServedState(ctx, key, []byte("A"))
	if err != nil || !t1.Equal(clock.Truncate(time.Second)) {
		t.Fatalf("first ServedState = %v, %v", t1, err)
	}
	clock = clock.Add(time.Hour)
	if got, _ := s.ServedState(ctx, key, []byte("A")); !got.Equal(t1) {
		t.Errorf("same digest moved the time to %v", got)
	}
	t2, _ := s.ServedState(ctx, key, []byte("B"))
	if !t2.Equal(clock.Truncate(time.Second)) {
		t.Errorf("new digest: %v, want now", t2)
	}
	// A change within the same second still moves the time forward.
	t3, _ := s.ServedState(ctx, key, []byte("A"))
	if !t3.Equal(t2.Add(time.Second)) {
		t.Errorf("change within one second: %v, want %v", t3, t2.Add(time.Second))
	}
	// Even a clock that went back does not move it back.
	clock = clock.Add(-24 * time.Hour)
	if t4, _ := s.ServedState(ctx, key, []byte("C")); !t4.After(t3) {
		t.Errorf("clock went back: %v, not after %v", t4, t3)
	}
	if got, _ := s.ServedState(ctx, "/other", []byte("C")); !got.Equal(clock.Truncate(time.Second)) {
		t.Error("state leaked between keys")
	}
	if _, err := s.ServedState(ctx, key, nil); err == nil {
		t.Error("ServedState with no digest succeeded")
	}
}

func TestServedStateConcurrent(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := s.ServedState(ctx, "doc", []byte{byte((w + i) % 3)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	k, _ := makeKey(nsServed, field{"served key", "doc", maxKeyLen})
	v, _ := s.get(k)
	stored, _ := decodeServed(v)
	if cached, ok := s.cachedServed(k); ok && cached != stored {
		t.Errorf("LRU holds %+v, Badger %+v", cached, stored)
	}
}

// TestVersionArchives: the blobs of one version are found whatever URL
// their references were made under, and only those of that version.
func TestVersionArchives(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	var sums [][32]byte
	for i := range 4 {
		data, sum := content(uint64(10+i), 100)
		if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	put := func(pkg, version, url string, sum [32]byte) {
		t.Helper()
		if _, err := s.PutArchiveRefIfAbsent(ctx, ArchiveKey{"npm", pkg, version, url}, sum); err != nil {
			t.Fatal(err)
		}
	}
	put("foo", "1.0.0", "https://old.test/foo/-/foo-1.0.0.tgz", sums[0])
	put("foo", "1.0.0", "https://older.test/foo/-/foo-1.0.0.tgz", sums[1])
	put("foo", "1.0.0", "https://mirror.test/foo/-/foo-1.0.0.tgz", sums[0])
	put("foo", "1.0.0-beta", "https://old.test/foo/-/foo-1.0.0-beta.tgz", sums[2])
	put("foobar", "1.0.0", "https://old.test/foobar/-/foobar-1.0.0.tgz", sums[3])

	got, err := s.VersionArchives(ctx, "npm", "foo", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.Contains(got, sums[0]) || !slices.Contains(got, sums[1]) {
		t.Errorf("VersionArchives(foo 1.0.0) = %x, want each of %x and %x once", got, sums[0], sums[1])
	}
	if got, err := s.VersionArchives(ctx, "npm", "foo", "2.0.0"); err != nil || len(got) != 0 {
		t.Errorf("VersionArchives of a version never stored = %x, %v", got, err)
	}
	if got, err := s.VersionArchives(ctx, "composer", "foo", "1.0.0"); err != nil || len(got) != 0 {
		t.Errorf("VersionArchives of another ecosystem = %x, %v", got, err)
	}
}

package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sigilproxy/sigil/cache"
)

// TestCacheConformance runs the contract of Cache against every
// implementation: the Badger store through StoreCache, and the fake the
// other tests use.
func TestCacheConformance(t *testing.T) {
	impls := map[string]func(t *testing.T) Cache{
		"memCache": func(t *testing.T) Cache { return newMemCache() },
		"StoreCache": func(t *testing.T) Cache {
			s, err := cache.Open("", cache.Options{InMemory: true, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return StoreCache(s)
		},
	}
	for name, open := range impls {
		t.Run(name, func(t *testing.T) { testCache(t, open(t)) })
	}
}

func testCache(t *testing.T, c Cache) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("sigil"), 300_000) // more than one chunk
	sum := sha256.Sum256(data)

	if _, err := c.OpenBlob(ctx, sum); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("OpenBlob of nothing: %v", err)
	}
	if err := c.PutBlob(ctx, sum, bytes.NewReader(data[1:])); err == nil {
		t.Error("PutBlob accepted bytes of another hash")
	}
	if _, err := c.OpenBlob(ctx, sum); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("refused bytes are visible: %v", err)
	}
	key := cache.ArchiveKey{Ecosystem: "composer", Package: "acme/foo", Version: "1.0.0", Archive: "http://127.0.0.1/a.zip"}
	if _, err := c.PutArchiveRefIfAbsent(ctx, key, sum); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("reference to a missing blob: %v", err)
	}
	// Concurrent calls for one sum store it once: one reader is read.
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.PutBlob(ctx, sum, &countingReader{r: bytes.NewReader(data), reads: &reads}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("%d concurrent PutBlobs of one blob read their content, want 1", n)
	}
	if err := c.PutBlob(ctx, sum, errReader{}); err != nil {
		t.Errorf("PutBlob of a stored blob read its reader: %v", err)
	}
	b, err := c.OpenBlob(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size() != int64(len(data)) || b.ModTime().IsZero() {
		t.Errorf("blob size %d modtime %v", b.Size(), b.ModTime())
	}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("blob content differs (%v)", err)
	}
	p := make([]byte, 10)
	if _, err := b.ReadAt(p, 1_000_003); err != nil || !bytes.Equal(p, data[1_000_003:1_000_013]) {
		t.Errorf("ReadAt: %q %v", p, err)
	}
	if _, err := b.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Read(p[:5]); n != 5 || string(p[:5]) != "sigil" {
		t.Errorf("Read after Seek: %q", p[:n])
	}
	b.Close()

	if _, ok, err := c.ArchiveRef(ctx, key); ok || err != nil {
		t.Errorf("ArchiveRef of nothing: %v %v", ok, err)
	}
	if s, err := c.PutArchiveRefIfAbsent(ctx, key, sum); err != nil || s != sum {
		t.Errorf("PutArchiveRefIfAbsent: %x %v", s, err)
	}
	other := []byte("other bytes")
	otherSum := sha256.Sum256(other)
	if err := c.PutBlob(ctx, otherSum, bytes.NewReader(other)); err != nil {
		t.Fatal(err)
	}
	if s, err := c.PutArchiveRefIfAbsent(ctx, key, otherSum); err != nil || s != sum {
		t.Errorf("a second reference replaced the first: %x %v", s, err)
	}
	if s, ok, err := c.ArchiveRef(ctx, key); !ok || err != nil || s != sum {
		t.Errorf("ArchiveRef: %x %v %v", s, ok, err)
	}

	if p, _, err := c.PinTree(ctx, "composer", "acme/foo", "1.0.0", "h1:a"); err != nil || p != "h1:a" {
		t.Errorf("first pin: %q %v", p, err)
	}
	if p, _, err := c.PinTree(ctx, "composer", "acme/foo", "1.0.0", "h1:b"); err != nil || p != "h1:a" {
		t.Errorf("second pin: %q %v, want the first", p, err)
	}

	if _, err := c.GetMeta(ctx, "http://127.0.0.1/p2/acme/foo.json"); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("GetMeta of nothing: %v", err)
	}
	m := cache.Meta{Body: []byte("{}"), ETag: `"e"`, LastModified: "yesterday"}
	if err := c.PutMeta(ctx, "http://127.0.0.1/p2/acme/foo.json", m); err != nil {
		t.Fatal(err)
	}
	m.Body[0] = 'X' // PutMeta keeps no reference
	got2, err := c.GetMeta(ctx, "http://127.0.0.1/p2/acme/foo.json")
	if err != nil || string(got2.Body) != "{}" || got2.ETag != `"e"` || got2.LastModified != "yesterday" {
		t.Errorf("GetMeta: %+v %v", got2, err)
	}
}

// countingReader counts the readers that were read at all.
type countingReader struct {
	r       io.Reader
	reads   *atomic.Int64
	counted bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	if !c.counted {
		c.counted = true
		c.reads.Add(1)
	}
	return c.r.Read(p)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("must not be read") }

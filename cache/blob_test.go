package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func readAll(t testing.TB, b *Blob) []byte {
	t.Helper()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBlobRoundTrip(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testBlobRoundTrip(t, newMemStore(t)) })
	t.Run("disk", func(t *testing.T) {
		s := openDisk(t, t.TempDir())
		defer s.Close()
		testBlobRoundTrip(t, s)
	})
}

func testBlobRoundTrip(t *testing.T, s *Store) {
	ctx := t.Context()
	cs := int(s.chunkSize)
	for i, size := range []int{0, 1, 100, cs - 1, cs, cs + 1, 3*cs + 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data, sum := content(uint64(i), size)
			if ok, err := s.HasBlob(ctx, sum); err != nil || ok {
				t.Fatalf("HasBlob before PutBlob = %v, %v", ok, err)
			}
			before := time.Now()
			if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.HasBlob(ctx, sum); err != nil || !ok {
				t.Fatalf("HasBlob after PutBlob = %v, %v", ok, err)
			}
			b, err := s.OpenBlob(ctx, sum)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Size() != int64(size) || b.SHA256() != sum || b.ModTime().Before(before.Add(-time.Second)) {
				t.Errorf("Size, SHA256, ModTime = %d, %x, %v", b.Size(), b.SHA256(), b.ModTime())
			}
			if got := readAll(t, b); !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the %d stored", len(got), len(data))
			}
			checkReadAt(t, b, data, int64(cs))
			checkSeek(t, b, data, int64(cs))
			checkWriteTo(t, b, data, int64(cs))
			if want := (size + cs - 1) / cs; countKeys(t, s, string(blobChunkKey(sum, 0)[:len(nsBlobChunk)+32])) != want {
				t.Errorf("%d chunk keys, want %d", countKeys(t, s, string(blobChunkKey(sum, 0)[:len(nsBlobChunk)+32])), want)
			}
		})
	}
}

func checkReadAt(t *testing.T, b *Blob, data []byte, cs int64) {
	t.Helper()
	size := int64(len(data))
	for _, c := range []struct{ off, n int64 }{
		{0, 10}, {0, size}, {size / 2, size}, {cs - 3, 6}, {cs, cs + 2}, {size - 1, 1}, {size, 1}, {size + 10, 1},
	} {
		if c.off < 0 || c.n < 0 {
			continue
		}
		p := make([]byte, c.n)
		n, err := b.ReadAt(p, c.off)
		wantN := max(0, min(c.n, size-c.off))
		if int64(n) != wantN {
			t.Errorf("ReadAt(%d bytes, %d) = %d bytes, want %d", c.n, c.off, n, wantN)
		}
		if c.off >= size && err != io.EOF {
			t.Errorf("ReadAt(%d bytes, %d) at or after the end: %v, want io.EOF", c.n, c.off, err)
		}
		if c.off < size && wantN < c.n && err != io.EOF {
			t.Errorf("ReadAt(%d bytes, %d) short read with error %v, want io.EOF", c.n, c.off, err)
		}
		if c.off < size && wantN == c.n && err != nil {
			t.Errorf("ReadAt(%d bytes, %d): %v", c.n, c.off, err)
		}
		if wantN > 0 && !bytes.Equal(p[:n], data[c.off:c.off+wantN]) {
			t.Errorf("ReadAt(%d bytes, %d) returned wrong bytes", c.n, c.off)
		}
	}
	if _, err := b.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt at a negative offset succeeded")
	}
}

func checkSeek(t *testing.T, b *Blob, data []byte, cs int64) {
	t.Helper()
	size := int64(len(data))
	for _, off := range []int64{0, 1, size / 3, cs + 7, size - 1} {
		if off < 0 || off >= size {
			continue
		}
		if pos, err := b.Seek(off-size, io.SeekEnd); err != nil || pos != off {
			t.Fatalf("Seek(%d, end) = %d, %v", off-size, pos, err)
		}
		got, err := io.ReadAll(io.LimitReader(b, 4096))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[off:min(size, off+4096)]) {
			t.Errorf("read after seeking to %d returned wrong bytes", off)
		}
	}
	if _, err := b.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to -1 succeeded")
	}
	if pos, err := b.Seek(size+5, io.SeekStart); err != nil || pos != size+5 {
		t.Errorf("Seek beyond the end = %d, %v", pos, err)
	}
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read beyond the end = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestBlobServeContentRanges(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	cs := int(s.chunkSize)
	data, sum := content(7, 2*cs+1000)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rng        string
		status     int
		start, end int // of the body, end exclusive
	}{
		{"", 200, 0, len(data)},
		{"bytes=0-99", 206, 0, 100},
		{fmt.Sprintf("bytes=%d-%d", cs-10, cs+10), 206, cs - 10, cs + 11},
		{"bytes=-500", 206, len(data) - 500, len(data)},
	} {
		b, err := s.OpenBlob(ctx, sum)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/a.zip", nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "a.zip", b.ModTime(), b)
		b.Close()
		if rec.Code != c.status || !bytes.Equal(rec.Body.Bytes(), data[c.start:c.end]) {
			t.Errorf("Range %q: status %d, %d bytes; want %d, bytes %d-%d", c.rng, rec.Code, rec.Body.Len(), c.status, c.start, c.end)
		}
	}
}

func TestPutBlobWrongHashStoresNothing(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	cs := int(s.chunkSize)
	data, sum := content(1, 2*cs+3)
	data[len(data)-1] ^= 1 // the last byte, so that every chunk is written before the check
	err := s.PutBlob(ctx, sum, bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("PutBlob of altered content: %v, want a refusal", err)
	}
	if ok, _ := s.HasBlob(ctx, sum); ok {
		t.Error("altered content is visible")
	}
	if _, err := s.OpenBlob(ctx, sum); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenBlob after refusal: %v, want ErrNotFound", err)
	}
	if n := countKeys(t, s, nsBlobChunk); n != 0 {
		t.Errorf("%d chunks left behind", n)
	}
	// The right content is accepted afterwards.
	data[len(data)-1] ^= 1
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// failingReader returns n bytes of r and then an error.
type failingReader struct {
	r io.Reader
	n int
}

var errDiskGone = errors.New("disk gone")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errDiskGone
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestPutBlobReaderFailsStoresNothing(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	cs := int(s.chunkSize)
	data, sum := content(2, 4*cs)
	err := s.PutBlob(ctx, sum, &failingReader{bytes.NewReader(data), 2*cs + cs/2})
	if !errors.Is(err, errDiskGone) {
		t.Fatalf("PutBlob with a failing reader: %v, want it wrapped", err)
	}
	if ok, _ := s.HasBlob(ctx, sum); ok {
		t.Error("a partial blob is visible")
	}
	if n := countKeys(t, s, nsBlobChunk); n != 0 {
		t.Errorf("%d chunks left behind", n)
	}
}

func TestPutBlobCanceled(t *testing.T) {
	s := newMemStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cs := int(s.chunkSize)
	data, sum := content(3, 3*cs)
	r := &cancelAfter{r: bytes.NewReader(data), n: cs + 1, cancel: cancel}
	if err := s.PutBlob(ctx, sum, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutBlob canceled midway: %v", err)
	}
	if ok, _ := s.HasBlob(t.Context(), sum); ok {
		t.Error("a canceled blob is visible")
	}
	if n := countKeys(t, s, nsBlobChunk); n != 0 {
		t.Errorf("%d chunks left behind", n)
	}
}

type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestPutBlobIdempotent(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	cs := int(s.chunkSize)
	data, sum := content(4, cs+1)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	b, _ := s.OpenBlob(ctx, sum)
	stored := b.ModTime()
	// Stored already: the reader is not even read.
	if err := s.PutBlob(ctx, sum, &failingReader{}); err != nil {
		t.Fatalf("second PutBlob: %v", err)
	}
	b, _ = s.OpenBlob(ctx, sum)
	if !b.ModTime().Equal(stored) {
		t.Error("second PutBlob changed the blob's time")
	}
}

func TestOpenBlobNotFound(t *testing.T) {
	s := newMemStore(t)
	_, err := s.OpenBlob(t.Context(), [32]byte{1})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "0100") {
		t.Errorf("OpenBlob of a missing blob: %v, want ErrNotFound naming it", err)
	}
}

// checkWriteTo writes the blob from several offsets, in writes no larger
// than a chunk, and once into a writer that fails.
func checkWriteTo(t *testing.T, b *Blob, data []byte, cs int64) {
	t.Helper()
	for _, off := range []int64{0, 1, cs - 1, cs, cs + 1, int64(len(data))} {
		if off > int64(len(data)) {
			continue
		}
		if _, err := b.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		w := &maxWriter{max: int(cs)}
		n, err := b.WriteTo(w)
		if err != nil || n != int64(len(data))-off || !bytes.Equal(w.buf.Bytes(), data[off:]) {
			t.Errorf("WriteTo from %d = %d, %v; wrote %d bytes, equal: %v", off, n, err, w.buf.Len(), bytes.Equal(w.buf.Bytes(), data[off:]))
		}
		if got, err := b.Seek(0, io.SeekCurrent); err != nil || got != int64(len(data)) {
			t.Errorf("offset after WriteTo from %d = %d, %v, want the end", off, got, err)
		}
	}
	if len(data) == 0 {
		return
	}
	b.Seek(0, io.SeekStart)
	boom := errors.New("client went away")
	if n, err := b.WriteTo(failWriter{boom}); !errors.Is(err, boom) || n != 0 {
		t.Errorf("WriteTo a failing writer = %d, %v, want 0, %v", n, err, boom)
	}
}

type maxWriter struct {
	buf bytes.Buffer
	max int
}

func (w *maxWriter) Write(p []byte) (int, error) {
	if len(p) > w.max {
		return 0, fmt.Errorf("a write of %d bytes, more than a chunk", len(p))
	}
	return w.buf.Write(p)
}

type failWriter struct{ err error }

func (w failWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestBlobClosed(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	data, sum := content(5, 10)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	b, _ := s.OpenBlob(ctx, sum)
	b.Read(make([]byte, 1))
	b.Close()
	b.Close()
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := b.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("ReadAt after Close: %v", err)
	}
	if _, err := b.WriteTo(io.Discard); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("WriteTo after Close: %v", err)
	}
}

func TestBlobMissingChunkIsCorruption(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	cs := int(s.chunkSize)
	data, sum := content(6, 2*cs)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(blobChunkKey(sum, 1)) }); err != nil {
		t.Fatal(err)
	}
	b, _ := s.OpenBlob(ctx, sum)
	_, err := io.ReadAll(b)
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("reading a blob with a missing chunk: %v, want a corruption error", err)
	}
	b.Seek(0, io.SeekStart)
	if n, err := b.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), "corrupt") || n != int64(cs) {
		t.Errorf("writing a blob with a missing chunk: %d bytes, %v, want the first chunk and a corruption error", n, err)
	}
}

func TestOpenSweepsUnfinishedBlobs(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openDisk(t, dir)
	cs := int(s.chunkSize)
	good, goodSum := content(8, cs+1)
	if err := s.PutBlob(ctx, goodSum, bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: chunks of a blob whose header was never
	// written, and a stray chunk beyond the end of a stored blob.
	crashed := [32]byte{0xcc}
	if err := s.db.Update(func(txn *badger.Txn) error {
		for n := range uint64(3) {
			if err := txn.Set(blobChunkKey(crashed, n), []byte("partial")); err != nil {
				return err
			}
		}
		return txn.Set(blobChunkKey(goodSum, 5), []byte("stray"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openDisk(t, dir)
	defer s.Close()
	if n := countKeys(t, s, nsBlobChunk); n != 2 {
		t.Errorf("%d chunks after reopening, want the 2 of the stored blob", n)
	}
	b, err := s.OpenBlob(ctx, goodSum)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, b), good) {
		t.Error("the stored blob changed")
	}
}

// TestBlobConcurrency has many goroutines store, read and refer to the same
// blobs at once; run it with -race.
func TestBlobConcurrency(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	cs := int(s.chunkSize)
	const blobs, workers = 3, 24
	type blob struct {
		data []byte
		sum  [32]byte
	}
	var bs [blobs]blob
	for i := range bs {
		bs[i].data, bs[i].sum = content(uint64(100+i), cs+cs/3*i)
	}
	key := ArchiveKey{"npm", "@acme/foo", "1.0.0", "tarball"}
	winners := make(chan [32]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			mine := bs[w%blobs]
			if err := s.PutBlob(ctx, mine.sum, bytes.NewReader(mine.data)); err != nil {
				t.Error(err)
				return
			}
			b, err := s.OpenBlob(ctx, mine.sum)
			if err != nil {
				t.Error(err)
				return
			}
			defer b.Close()
			got, err := io.ReadAll(b)
			if err != nil || !bytes.Equal(got, mine.data) {
				t.Errorf("worker %d read wrong content: %v", w, err)
			}
			// Parallel ReadAt on one Blob.
			p := make([]byte, 100)
			if _, err := b.ReadAt(p, int64(w)); err != nil || !bytes.Equal(p, mine.data[w:w+100]) {
				t.Errorf("worker %d ReadAt: %v", w, err)
			}
			stored, err := s.PutArchiveRefIfAbsent(ctx, key, mine.sum)
			if err != nil {
				t.Error(err)
				return
			}
			winners <- stored
			if got, ok, err := s.ArchiveRef(ctx, key); err != nil || !ok || got != stored {
				t.Errorf("ArchiveRef = %x, %v, %v; want %x", got, ok, err, stored)
			}
		})
	}
	wg.Wait()
	close(winners)
	first, ok := <-winners
	for w := range winners {
		if w != first {
			t.Fatalf("two references stored for one key: %x and %x", first, w)
		}
	}
	if !ok {
		t.Fatal("no reference stored")
	}
	if n := countKeys(t, s, nsBlobHead); n != blobs {
		t.Errorf("%d blob headers, want %d", n, blobs)
	}
}

func TestPutBlobWaitsForWriterButHonoursContext(t *testing.T) {
	s := newMemStore(t)
	data, sum := content(9, 10)
	release, err := s.lockBlob(t.Context(), sum)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PutBlob while another writer holds the blob: %v, want the deadline", err)
	}
	release()
	if err := s.PutBlob(t.Context(), sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// sizedReader claims a size that may not be its length.
type sizedReader struct {
	io.Reader
	size int64
}

func (r sizedReader) Size() int64 { return r.size }

// A reader smaller than a chunk is read into a buffer of its own size;
// one whose Size understates its length is still stored whole.
func TestPutBlobReaderSize(t *testing.T) {
	s := openDisk(t, t.TempDir())
	defer s.Close()
	cs := s.chunkSize
	for i, c := range []struct{ len, size int64 }{
		{100, 100}, {cs - 1, cs - 1}, {100, 10}, {cs + 5, 10}, {2*cs + 3, cs - 1}, {50, 0}, {10, 1000},
	} {
		t.Run(fmt.Sprintf("%d-says-%d", c.len, c.size), func(t *testing.T) {
			data, sum := content(uint64(100+i), int(c.len))
			if err := s.PutBlob(t.Context(), sum, sizedReader{bytes.NewReader(data), c.size}); err != nil {
				t.Fatal(err)
			}
			b, err := s.OpenBlob(t.Context(), sum)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := readAll(t, b); !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the %d stored", len(got), len(data))
			}
		})
	}
}

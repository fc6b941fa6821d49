package cache

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"
)

// onlyWriter hides io.Discard's ReadFrom, so that copying reads in 32 KiB
// pieces, as net/http does when it serves an io.ReadSeeker.
type onlyWriter struct{ io.Writer }

// BenchmarkOpenBlobRead measures streaming a 64 MiB blob out of an on-disk
// store (from the page cache, after the first run).
func BenchmarkOpenBlobRead(b *testing.B) {
	s, err := Open(b.TempDir(), Options{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	const size = 64 << 20
	data, sum := content(1, size)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	b.Run("Read32K", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		buf := make([]byte, 32<<10)
		for b.Loop() {
			blob, err := s.OpenBlob(ctx, sum)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.CopyBuffer(onlyWriter{io.Discard}, blob, buf); err != nil || n != size {
				b.Fatal(n, err)
			}
			blob.Close()
		}
	})
	b.Run("ReadAt1M", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		buf := make([]byte, 1<<20)
		for b.Loop() {
			blob, err := s.OpenBlob(ctx, sum)
			if err != nil {
				b.Fatal(err)
			}
			for off := int64(0); off < size; off += int64(len(buf)) {
				if _, err := blob.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
			blob.Close()
		}
	})
}

// BenchmarkPutBlob measures storing a 64 MiB blob, hashing included.
func BenchmarkPutBlob(b *testing.B) {
	s, err := Open(b.TempDir(), Options{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const size = 64 << 20
	data, _ := content(1, size)
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		i++
		data[0] = byte(i) // a new blob each time; hashing is part of the cost
		data[1] = byte(i >> 8)
		b.StopTimer()
		sum := sha256Sum(data)
		b.StartTimer()
		if err := s.PutBlob(b.Context(), sum, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetMeta measures reading a metadata document: from the LRU
// (hot) and from Badger with the LRU disabled (cold).
func BenchmarkGetMeta(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		for _, lru := range []int64{0, -1} {
			name := fmt.Sprintf("%dKiB/hot", size>>10)
			if lru < 0 {
				name = fmt.Sprintf("%dKiB/cold", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				s, err := Open(b.TempDir(), Options{Logger: testLogger(b), MetaCacheBytes: lru})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				body, _ := content(2, size)
				const key = "https://composer.example.test/p2/acme/foo.json"
				if err := s.PutMeta(b.Context(), key, Meta{Body: body, ETag: `"x"`, FetchedAt: time.Now()}); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.GetMeta(b.Context(), key); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

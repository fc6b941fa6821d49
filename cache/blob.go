package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// maxChunkSize is the size of every chunk of a blob but the last. 1 MiB
// keeps the memory of a reader or writer bounded, is large enough that
// per-chunk overhead (one Badger lookup, one CRC) vanishes next to copying
// the bytes, and sits above the value threshold, so chunks live in the
// value log. The size is recorded in each blob's header, so it can change
// without a new layout; readers accept any size up to this one.
const maxChunkSize = 1 << 20

// inMemoryChunkSize is the chunk size in memory mode, where Badger takes no
// value of 1 MiB or more.
const inMemoryChunkSize = 512 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, maxChunkSize); return &b }}

// blobHeader is what makes a blob visible. It is written only after every
// chunk is on disk.
type blobHeader struct {
	size      int64
	chunkSize int64
	stored    time.Time // when the blob was first stored
}

const blobHeaderVersion = 1

func (h blobHeader) encode() []byte {
	b := make([]byte, 0, 1+8+4+8)
	b = append(b, blobHeaderVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(h.size))
	b = binary.BigEndian.AppendUint32(b, uint32(h.chunkSize))
	return binary.BigEndian.AppendUint64(b, uint64(h.stored.UnixNano()))
}

func decodeBlobHeader(b []byte) (blobHeader, error) {
	if len(b) != 1+8+4+8 || b[0] != blobHeaderVersion {
		return blobHeader{}, fmt.Errorf("malformed blob header (%d bytes)", len(b))
	}
	h := blobHeader{
		size:      int64(binary.BigEndian.Uint64(b[1:])),
		chunkSize: int64(binary.BigEndian.Uint32(b[9:])),
		stored:    time.Unix(0, int64(binary.BigEndian.Uint64(b[13:]))),
	}
	if h.size < 0 || h.chunkSize <= 0 || h.chunkSize > maxChunkSize {
		return blobHeader{}, fmt.Errorf("malformed blob header (size %d, chunk size %d)", h.size, h.chunkSize)
	}
	return h, nil
}

func (h blobHeader) chunks() uint64 {
	return uint64((h.size + h.chunkSize - 1) / h.chunkSize)
}

// chunkLen is the length chunk n must have.
func (h blobHeader) chunkLen(n uint64) int64 {
	return min(h.chunkSize, h.size-int64(n)*h.chunkSize)
}

// PutBlob stores the content of r as the blob with the given sha256. The
// caller passes bytes it already verified (typically a temporary file);
// PutBlob hashes them again while storing and, if they do not hash to sum,
// refuses them and stores nothing. If the blob is already stored, PutBlob
// returns nil without reading r.
//
// Concurrent calls for one sum are serialized: the later one waits (or
// gives up when ctx ends) and then finds the blob stored. A call that fails
// (r fails, ctx ends, wrong hash) leaves nothing visible; the chunks it
// wrote are deleted, or, after a crash, swept by the next Open.
func (s *Store) PutBlob(ctx context.Context, sum [32]byte, r io.Reader) error {
	release, err := s.lockBlob(ctx, sum)
	if err != nil {
		return fmt.Errorf("put blob %x: %w", sum, err)
	}
	defer release()
	switch _, err := s.blobHeader(sum); {
	case err == nil:
		s.stored(sum, 0)
		return nil
	case !errors.Is(err, ErrNotFound):
		return err
	}

	size, n, err := s.writeChunks(ctx, sum, r)
	if err != nil {
		s.deleteChunks(sum, n)
		return fmt.Errorf("put blob %x: %w", sum, err)
	}
	// The chunks must be on disk before the header that points at them.
	if err := s.sync(); err != nil {
		s.deleteChunks(sum, n)
		return fmt.Errorf("put blob %x: %w", sum, err)
	}
	s.dropChunks(sum, n)
	h := blobHeader{size: size, chunkSize: s.chunkSize, stored: s.now()}
	if err := s.update(ctx, func(txn *badger.Txn) error {
		return txn.Set(blobHeadKey(sum), h.encode())
	}); err != nil {
		s.deleteChunks(sum, n)
		return fmt.Errorf("put blob %x: write header: %w", sum, err)
	}
	s.stored(sum, size)
	if err := s.sync(); err != nil {
		return fmt.Errorf("put blob %x: %w", sum, err)
	}
	return nil
}

// dropChunks gives back the pages that writing the n chunks of sum mapped
// (mapped.go); they are on disk.
func (s *Store) dropChunks(sum [32]byte, n uint64) {
	keys := make([][]byte, n)
	for i := range n {
		keys[i] = blobChunkKey(sum, i)
	}
	s.dropValues(keys...)
}

// stored accounts for a blob PutBlob made visible (size bytes new) or
// found stored (0): it is used now, and protected from eviction until it
// is opened or freshGrace passed.
func (s *Store) stored(sum [32]byte, size int64) {
	s.openMu.Lock()
	s.fresh[sum] = s.now()
	s.openMu.Unlock()
	s.touch(usedBlob, sum[:])
	s.addUsed(size)
}

// writeChunks stores r in chunks under sum and checks its hash. It returns
// the size and the number of chunks written, also on error, so that the
// caller can delete them.
//
// One chunk's commit runs while the next is read and hashed, so reading,
// hashing and Badger's writing overlap; two buffers bound the memory. Most
// archives are far smaller than a chunk: when r tells its size (the
// verifier passes a section of its temporary file), one smaller than a
// chunk is read into a buffer of its own size, not a pooled chunk, so that
// many small downloads at once do not hold a megabyte or two each.
func (s *Store) writeChunks(ctx context.Context, sum [32]byte, r io.Reader) (size int64, n uint64, err error) {
	var bufs [2]*[]byte
	defer func() {
		for _, b := range bufs {
			if b != nil {
				chunkPool.Put(b)
			}
		}
	}()
	chunk := func(i uint64) []byte {
		if bufs[i%2] == nil {
			bufs[i%2] = chunkPool.Get().(*[]byte)
		}
		return (*bufs[i%2])[:s.chunkSize]
	}
	small := int64(0) // the first buffer's size, when r is smaller than a chunk
	if sr, ok := r.(interface{ Size() int64 }); ok && sr.Size() >= 0 && sr.Size() < s.chunkSize {
		small = sr.Size() + 1 // one more byte, to see the end
	}
	committed := make(chan error, 1)
	pending := false
	wait := func() error {
		if !pending {
			return nil
		}
		pending = false
		return <-committed
	}
	// Runs before the buffers go back to the pool: Badger may still be
	// reading one of them.
	defer wait()

	hash := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return size, n, err
		}
		var buf []byte
		if n == 0 && small > 0 {
			buf = make([]byte, small)
		} else {
			buf = chunk(n)
		}
		k, rerr := io.ReadFull(r, buf)
		if n == 0 && small > 0 && rerr == nil {
			// r held more than its size said: go on in a whole chunk.
			whole := chunk(n)
			copy(whole, buf[:k])
			var more int
			more, rerr = io.ReadFull(r, whole[k:])
			buf, k = whole, k+more
		}
		if k > 0 {
			hash.Write(buf[:k])
			if err := wait(); err != nil {
				return size, n, fmt.Errorf("write chunk %d: %w", n-1, err)
			}
			// A transaction that only writes cannot conflict. Badger is
			// done with buf once the commit's callback ran. Each chunk
			// holds the gate until committed, so that a long download
			// never keeps a reclaim waiting for more than one chunk.
			s.gate.RLock()
			txn := s.db.NewTransaction(true)
			if err := txn.Set(blobChunkKey(sum, n), buf[:k]); err != nil {
				txn.Discard()
				s.gate.RUnlock()
				return size, n, fmt.Errorf("write chunk %d: %w", n, err)
			}
			pending = true
			txn.CommitWith(func(err error) { s.gate.RUnlock(); committed <- err })
			n++
			size += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return size, n, fmt.Errorf("read content: %w", rerr)
		}
	}
	if err := wait(); err != nil {
		return size, n, fmt.Errorf("write chunk %d: %w", n-1, err)
	}
	if got := [32]byte(hash.Sum(nil)); got != sum {
		return size, n, fmt.Errorf("refused: the %d bytes given hash to sha256 %x", size, got)
	}
	return size, n, nil
}

// deleteChunks removes chunks 0..n-1 of sum after a failed PutBlob. A
// failure here only wastes space until the next Open sweeps the chunks.
func (s *Store) deleteChunks(sum [32]byte, n uint64) {
	if n == 0 {
		return
	}
	s.garbage.Add(int64(n) * s.chunkSize)
	s.gate.RLock()
	defer s.gate.RUnlock()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for i := range n {
		if err := wb.Delete(blobChunkKey(sum, i)); err != nil {
			s.log.Warn("cache: could not delete chunks of a failed blob; the next start removes them", "sha256", fmt.Sprintf("%x", sum), "err", err)
			return
		}
	}
	if err := wb.Flush(); err != nil {
		s.log.Warn("cache: could not delete chunks of a failed blob; the next start removes them", "sha256", fmt.Sprintf("%x", sum), "err", err)
	}
}

// lockBlob makes the caller the only writer of sum in this process, waiting
// for an earlier writer (or an eviction) to finish.
func (s *Store) lockBlob(ctx context.Context, sum [32]byte) (release func(), err error) {
	for {
		release, ok := s.claimBlob(sum)
		if ok {
			return release, nil
		}
		s.inflightMu.Lock()
		ch, busy := s.inflight[sum]
		s.inflightMu.Unlock()
		if !busy {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// claimBlob makes the caller the only writer of sum, or reports false when
// another holds it.
func (s *Store) claimBlob(sum [32]byte) (release func(), ok bool) {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	if _, busy := s.inflight[sum]; busy {
		return nil, false
	}
	ch := make(chan struct{})
	s.inflight[sum] = ch
	return func() {
		s.inflightMu.Lock()
		delete(s.inflight, sum)
		s.inflightMu.Unlock()
		close(ch)
	}, true
}

// sweepOrphanChunks deletes chunks that no header accounts for: those of a
// PutBlob that crashed or failed to clean up. It runs in Open, before any
// PutBlob can be under way.
func (s *Store) sweepOrphanChunks() error {
	var (
		orphans  [][]byte
		total    int
		lastSum  [32]byte
		lastHead *blobHeader
		haveLast bool
	)
	flush := func() error {
		if len(orphans) == 0 {
			return nil
		}
		wb := s.db.NewWriteBatch()
		defer wb.Cancel()
		for _, k := range orphans {
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		total += len(orphans)
		s.garbage.Add(int64(len(orphans)) * maxChunkSize) // at most
		orphans = orphans[:0]
		return wb.Flush()
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsBlobChunk)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()
			rest := key[len(nsBlobChunk):]
			if len(rest) != 32+8 {
				orphans = append(orphans, bytes.Clone(key))
				continue
			}
			sum, n := [32]byte(rest[:32]), binary.BigEndian.Uint64(rest[32:])
			if !haveLast || sum != lastSum {
				lastSum, haveLast, lastHead = sum, true, nil
				if h, err := s.blobHeader(sum); err == nil {
					lastHead = &h
				} else if !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if lastHead == nil || n >= lastHead.chunks() {
				orphans = append(orphans, bytes.Clone(key))
			}
			if len(orphans) >= 1024 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("open cache: sweep chunks of unfinished blobs: %w", err)
	}
	if total > 0 {
		s.log.Info("cache: removed chunks of unfinished blobs", "chunks", total)
	}
	return nil
}

func (s *Store) blobHeader(sum [32]byte) (blobHeader, error) {
	v, err := s.get(blobHeadKey(sum))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return blobHeader{}, fmt.Errorf("blob %x: %w", sum, ErrNotFound)
	}
	if err != nil {
		return blobHeader{}, fmt.Errorf("blob %x: %w", sum, err)
	}
	h, err := decodeBlobHeader(v)
	if err != nil {
		return blobHeader{}, fmt.Errorf("blob %x: %w", sum, err)
	}
	return h, nil
}

// HasBlob reports whether the blob with the given sha256 is stored.
func (s *Store) HasBlob(ctx context.Context, sum [32]byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, err := s.blobHeader(sum)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// OpenBlob returns a reader of the stored blob with the given sha256, or an
// error wrapping ErrNotFound. The Blob holds no database resources between
// calls; Close returns its buffer. The blob is not evicted while a Blob of
// it is open, so every Blob must be closed.
func (s *Store) OpenBlob(ctx context.Context, sum [32]byte) (*Blob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Under openMu, eviction cannot remove the blob between the header
	// read and the count that protects it.
	s.openMu.Lock()
	h, err := s.blobHeader(sum)
	if err == nil {
		s.open[sum]++
		delete(s.fresh, sum)
	}
	s.openMu.Unlock()
	if err != nil {
		return nil, err
	}
	s.touch(usedBlob, sum[:])
	return &Blob{s: s, sum: sum, h: h}, nil
}

// Blob reads one stored blob chunk by chunk, with memory bounded by one
// chunk whatever its size. It is an io.ReadSeeker for http.ServeContent and
// an io.ReaderAt. Read and Seek share an offset and must not be called
// concurrently; ReadAt may be called from many goroutines at once.
type Blob struct {
	s   *Store
	sum [32]byte
	h   blobHeader

	off    int64   // of Read and Seek
	bufp   *[]byte // the chunk Read last loaded, from chunkPool
	buf    []byte  // its valid bytes
	bufN   uint64  // its number
	closed atomic.Bool
}

// Size is the length of the blob in bytes.
func (b *Blob) Size() int64 { return b.h.size }

// SHA256 is the blob's sha256, under which it is stored.
func (b *Blob) SHA256() [32]byte { return b.sum }

// ModTime is when the blob was first stored: when sigil verified these
// bytes.
func (b *Blob) ModTime() time.Time { return b.h.stored }

// Read implements io.Reader.
func (b *Blob) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, fmt.Errorf("read blob %x: %w", b.sum, fs.ErrClosed)
	}
	if b.off >= b.h.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := uint64(b.off / b.h.chunkSize)
	if b.buf == nil || b.bufN != n {
		if b.bufp == nil {
			b.bufp = chunkPool.Get().(*[]byte)
		}
		b.buf = nil
		if err := b.readChunk(n, func(v []byte) error { b.buf = (*b.bufp)[:copy(*b.bufp, v)]; return nil }); err != nil {
			return 0, err
		}
		b.bufN = n
	}
	k := copy(p, b.buf[b.off-int64(n)*b.h.chunkSize:])
	b.off += int64(k)
	return k, nil
}

// Seek implements io.Seeker. Seeking beyond the end is allowed; Read there
// returns io.EOF.
func (b *Blob) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.h.size
	default:
		return 0, fmt.Errorf("seek blob %x: invalid whence %d", b.sum, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek blob %x: negative position %d", b.sum, offset)
	}
	b.off = offset
	return offset, nil
}

// ReadAt implements io.ReaderAt. It copies straight from the database into
// p and is safe for concurrent use.
func (b *Blob) ReadAt(p []byte, off int64) (int, error) {
	if b.closed.Load() {
		return 0, fmt.Errorf("read blob %x: %w", b.sum, fs.ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("read blob %x: negative offset %d", b.sum, off)
	}
	if off >= b.h.size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), b.h.size-off)]
	done := 0
	for done < len(want) {
		pos := off + int64(done)
		n := uint64(pos / b.h.chunkSize)
		o := pos - int64(n)*b.h.chunkSize
		if err := b.readChunk(n, func(v []byte) error { done += copy(want[done:], v[o:]); return nil }); err != nil {
			return done, err
		}
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// WriteTo implements io.WriterTo: it writes the blob from the current
// offset of Read and Seek to its end, each chunk straight from Badger's
// memory-mapped value log, so serving a blob takes no buffer of its own
// and one copy (into the socket) instead of three. io.Copy prefers it.
//
// While one chunk is being written, WriteTo holds Badger's read lock on the
// value-log file that holds it; a write that never returns would delay the
// removal of that file by the value-log GC (and readers of that file
// behind it). Callers writing to a network give w a write deadline.
func (b *Blob) WriteTo(w io.Writer) (int64, error) {
	if b.closed.Load() {
		return 0, fmt.Errorf("read blob %x: %w", b.sum, fs.ErrClosed)
	}
	var total int64
	for b.off < b.h.size {
		n := uint64(b.off / b.h.chunkSize)
		o := b.off - int64(n)*b.h.chunkSize
		var werr error
		err := b.readChunk(n, func(v []byte) error {
			k, err := w.Write(v[o:])
			total += int64(k)
			b.off += int64(k)
			werr = err
			return err
		})
		if werr != nil {
			return total, werr
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// readChunk passes chunk n to fn, which must not keep it; an error of fn
// is returned as it is.
func (b *Blob) readChunk(n uint64, fn func(v []byte) error) error {
	key := blobChunkKey(b.sum, n)
	err := b.s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if want := b.h.chunkLen(n); int64(len(v)) != want {
				return fmt.Errorf("chunk is %d bytes, want %d: the cache is corrupt", len(v), want)
			}
			defer b.s.vmaps.dropRead(v)
			return fn(v)
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		// The header promised this chunk: not a miss but corruption.
		err = errors.New("missing: the cache is corrupt")
	}
	if err != nil {
		return fmt.Errorf("read blob %x chunk %d: %w", b.sum, n, err)
	}
	return nil
}

// Close releases the Blob's buffer. Reads after Close fail.
func (b *Blob) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	s := b.s
	s.openMu.Lock()
	if s.open[b.sum]--; s.open[b.sum] <= 0 {
		delete(s.open, b.sum)
	}
	s.openMu.Unlock()
	if s.opt.MaxSize > 0 && s.used.Load() > s.opt.MaxSize {
		s.wakeEvictor() // it may have had to skip this blob
	}
	if b.bufp != nil {
		chunkPool.Put(b.bufp)
	}
	b.bufp, b.buf = nil, nil
	return nil
}

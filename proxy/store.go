package proxy

import (
	"context"
	"io"
	"time"

	"github.com/sigilproxy/sigil/cache"
)

// The interfaces below are what the proxy needs of its cache. *cache.Store
// provides all of them (through StoreCache, which only adapts OpenBlob's
// result type); tests use in-memory fakes. Every method is safe for
// concurrent use, and "not found" is an error wrapping cache.ErrNotFound.

// Blobs holds verified archive bytes by their sha256.
type Blobs interface {
	// PutBlob stores the bytes of r as the blob sum. It refuses bytes that
	// do not hash to sum and then stores nothing. A blob already stored is
	// left alone and r is not read. Concurrent calls for one sum store it
	// once. The proxy calls it only with bytes it verified.
	PutBlob(ctx context.Context, sum [32]byte, r io.Reader) error
	// OpenBlob returns a reader of the stored blob sum, or an error wrapping
	// cache.ErrNotFound.
	OpenBlob(ctx context.Context, sum [32]byte) (Blob, error)
}

// Blob is one stored blob. Read and Seek share an offset and are used by
// one goroutine; ReadAt may be called concurrently. Memory stays bounded
// whatever the size.
type Blob interface {
	io.ReadSeeker
	io.ReaderAt
	io.Closer
	Size() int64
	// ModTime is when the blob was first stored, that is, verified.
	ModTime() time.Time
}

// ArchiveRefs says which blob is served for an archive of a version. A
// reference never changes once made: the first verified bytes are served
// for ever after, so a re-zipped upstream archive changes nothing a client
// gets. A reference is keyed by the archive's upstream URL; a Cache that
// also lists a version's blobs under every URL (VersionArchives) lets
// stored bytes outlive a change of upstream.
type ArchiveRefs interface {
	// ArchiveRef returns the blob served for key and whether there is one.
	ArchiveRef(ctx context.Context, key cache.ArchiveKey) (sum [32]byte, ok bool, err error)
	// PutArchiveRefIfAbsent makes key refer to sum unless it already refers
	// to a blob, and returns the sum it refers to afterwards. The blob must
	// be stored first. A new reference is durable when the call returns.
	PutArchiveRefIfAbsent(ctx context.Context, key cache.ArchiveKey, sum [32]byte) ([32]byte, error)
}

// Pins keeps the first-seen tree hash of each version of an unsigned
// package (trust on first use).
type Pins interface {
	// PinTree pins tree for the version unless a tree is pinned already,
	// and returns the pinned tree: tree itself on first sight. A new pin is
	// durable when the call returns.
	PinTree(ctx context.Context, eco, pkg, version, tree string) (pinned string, firstSeen time.Time, err error)
	// PinnedTree returns the pinned tree of a version, or an error
	// wrapping cache.ErrNotFound when none is pinned. It pins nothing.
	PinnedTree(ctx context.Context, eco, pkg, version string) (tree string, firstSeen time.Time, err error)
}

// MetaStore keeps the last copy of each upstream metadata document with its
// validators, keyed by URL.
type MetaStore interface {
	// GetMeta returns the copy stored under key, or an error wrapping
	// cache.ErrNotFound. The body is the caller's own.
	GetMeta(ctx context.Context, key string) (cache.Meta, error)
	// PutMeta replaces the copy stored under key. It keeps no reference to
	// m.Body.
	PutMeta(ctx context.Context, key string, m cache.Meta) error
	// DeleteMeta removes the copy stored under key, if any.
	DeleteMeta(ctx context.Context, key string) error
}

// Cache is everything the proxy keeps.
type Cache interface {
	Blobs
	ArchiveRefs
	Pins
	MetaStore
}

// StoreCache returns s as a Cache.
func StoreCache(s *cache.Store) Cache { return storeCache{s} }

type storeCache struct{ *cache.Store }

func (s storeCache) OpenBlob(ctx context.Context, sum [32]byte) (Blob, error) {
	b, err := s.Store.OpenBlob(ctx, sum)
	if err != nil {
		return nil, err
	}
	return b, nil
}

var _ Cache = storeCache{}

package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// ArchiveKey names one archive of one version of a package. Every field is
// required.
type ArchiveKey struct {
	Ecosystem string // "composer", "npm"
	Package   string // as in release statements
	Version   string // exactly the registry's version string
	// Archive says which archive of the version, for ecosystems or
	// versions with more than one: the upstream URL learned from metadata,
	// or a kind such as "dist". At most 4 KiB.
	Archive string
}

func (k ArchiveKey) String() string {
	return fmt.Sprintf("%s %s %s (%s)", k.Ecosystem, k.Package, k.Version, k.Archive)
}

func (k ArchiveKey) key() ([]byte, error) {
	key, err := makeKey(nsRef,
		field{"ecosystem", k.Ecosystem, maxNameLen},
		field{"package", k.Package, maxNameLen},
		field{"version", k.Version, maxNameLen},
		field{"archive", k.Archive, maxKeyLen})
	if err != nil {
		return nil, fmt.Errorf("archive reference: %w", err)
	}
	return key, nil
}

// ArchiveRef returns the sha256 of the blob served for key, and whether
// there is one.
func (s *Store) ArchiveRef(ctx context.Context, key ArchiveKey) (sum [32]byte, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return sum, false, err
	}
	k, err := key.key()
	if err != nil {
		return sum, false, err
	}
	if s.refs != nil {
		if sum, ok := s.refs.Get(string(k)); ok {
			return sum, true, nil
		}
	}
	v, err := s.get(k)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return sum, false, nil
	case err != nil:
		return sum, false, fmt.Errorf("archive reference of %s: %w", key, err)
	case len(v) != 32:
		return sum, false, fmt.Errorf("archive reference of %s: malformed (%d bytes)", key, len(v))
	}
	sum = [32]byte(v)
	// References never change once stored, so caching them is always
	// safe; absence is not cached, as it can end at any moment.
	if s.refs != nil {
		s.refs.Add(string(k), sum)
	}
	return sum, true, nil
}

// PutArchiveRefIfAbsent makes key refer to the blob sum unless it already
// refers to a blob, and returns the sum it refers to afterwards: the first
// verified bytes are served for ever after. The blob must be stored
// (PutBlob) first; otherwise the error wraps ErrNotFound. A new reference is
// on disk when the call returns.
func (s *Store) PutArchiveRefIfAbsent(ctx context.Context, key ArchiveKey, sum [32]byte) ([32]byte, error) {
	if err := ctx.Err(); err != nil {
		return [32]byte{}, err
	}
	k, err := key.key()
	if err != nil {
		return [32]byte{}, err
	}
	mu := s.stripe(k)
	mu.Lock()
	defer mu.Unlock()

	var stored [32]byte
	var created bool
	err = s.update(ctx, func(txn *badger.Txn) error {
		created = false
		item, err := txn.Get(k)
		if err == nil {
			return item.Value(func(v []byte) error {
				if len(v) != 32 {
					return fmt.Errorf("malformed (%d bytes)", len(v))
				}
				stored = [32]byte(v)
				return nil
			})
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		// Checked in the same transaction: a reference never names a blob
		// that is not there (blobs are never deleted).
		if _, err := txn.Get(blobHeadKey(sum)); errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("blob %x is not stored: %w", sum, ErrNotFound)
		} else if err != nil {
			return err
		}
		stored, created = sum, true
		return txn.Set(k, sum[:])
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("store archive reference of %s: %w", key, err)
	}
	if created {
		if err := s.sync(); err != nil {
			return [32]byte{}, fmt.Errorf("store archive reference of %s: %w", key, err)
		}
	}
	if s.refs != nil {
		s.refs.Add(string(k), stored)
	}
	return stored, nil
}

// maxVersionArchives bounds what VersionArchives returns: a version has
// one archive per upstream URL it was ever fetched from, a handful.
const maxVersionArchives = 16

// VersionArchives returns the blobs that archive references of one
// version name, whatever their Archive field (the upstream URL each was
// learned from), at most 16, each sum once. Callers use them when the
// version's archive URL changed (a new upstream): bytes verified under
// the old URL can be decided and served again without a download, but
// only after a verdict on them, since the URL is not what made them
// right.
func (s *Store) VersionArchives(ctx context.Context, eco, pkg, version string) ([][32]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Every field is length-prefixed, so this prefix holds exactly the
	// references of this version, never those of a version or package
	// whose name merely starts the same way.
	prefix, err := makeKey(nsRef,
		field{"ecosystem", eco, maxNameLen},
		field{"package", pkg, maxNameLen},
		field{"version", version, maxNameLen})
	if err != nil {
		return nil, fmt.Errorf("archive references: %w", err)
	}
	var sums [][32]byte
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: maxVersionArchives})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(sums) < maxVersionArchives; it.Next() {
			err := it.Item().Value(func(v []byte) error {
				if len(v) != 32 {
					return fmt.Errorf("malformed (%d bytes)", len(v))
				}
				if sum := [32]byte(v); !slices.Contains(sums, sum) {
					sums = append(sums, sum)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("archive references of %s %s %s: %w", eco, pkg, version, err)
	}
	return sums, nil
}

package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// servedState is what sigil last served under a key: a digest of it, and
// the Last-Modified that goes with it.
type servedState struct {
	digest       string
	lastModified time.Time
}

const servedVersion = 1

// maxDigestLen allows any hash up to SHA-512.
const maxDigestLen = 64

func (st servedState) encode() []byte {
	return encodeTimed(servedVersion, uint64(st.lastModified.Unix()), st.digest)
}

func decodeServed(b []byte) (servedState, error) {
	t, digest, err := decodeTimed(b, servedVersion, "served state")
	if err != nil {
		return servedState{}, err
	}
	return servedState{lastModified: time.Unix(int64(t), 0).UTC(), digest: digest}, nil
}

// ServedState returns the Last-Modified time of what sigil serves under key
// (a document path of its own), given a digest of exactly what it serves
// now. The time stays as long as the digest does and moves forward when
// the digest changes (a new upstream version, a changed verdict), so that
// Last-Modified and an ETag derived from the digest move together.
//
// Times are whole seconds, as HTTP dates are, and a new time is always at
// least one second after the previous one: a client that cached the old
// content at second t and asks If-Modified-Since t must not get a 304 for
// content that changed within the same second.
//
// The state is not flushed to disk: after a crash it may be older, and the
// next call sets a new time, which is safe.
func (s *Store) ServedState(ctx context.Context, key string, digest []byte) (lastModified time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	k, err := makeKey(nsServed, field{"served key", key, maxKeyLen})
	if err != nil {
		return time.Time{}, fmt.Errorf("served state: %w", err)
	}
	if len(digest) == 0 || len(digest) > maxDigestLen {
		return time.Time{}, fmt.Errorf("served state of %q: digest of %d bytes", shownKey(key), len(digest))
	}
	if st, ok := s.cachedServed(k); ok && st.digest == string(digest) {
		return st.lastModified, nil
	}
	// Under the key's lock, so that the LRU is updated in commit order.
	mu := s.stripe(k)
	mu.Lock()
	defer mu.Unlock()
	if st, ok := s.cachedServed(k); ok && st.digest == string(digest) {
		return st.lastModified, nil
	}

	var st servedState
	err = s.update(ctx, func(txn *badger.Txn) error {
		var old *servedState
		item, err := txn.Get(k)
		switch {
		case err == nil:
			if err := item.Value(func(v []byte) error {
				o, err := decodeServed(v)
				old = &o
				return err
			}); err != nil {
				return err
			}
			if old.digest == string(digest) {
				st = *old
				return nil
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		st = servedState{digest: string(digest), lastModified: s.now().UTC().Truncate(time.Second)}
		if old != nil && !st.lastModified.After(old.lastModified) {
			st.lastModified = old.lastModified.Add(time.Second)
		}
		return txn.Set(k, st.encode())
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("served state of %q: %w", shownKey(key), err)
	}
	if s.served != nil {
		s.served.Add(string(k), st)
	}
	return st.lastModified, nil
}

func (s *Store) cachedServed(k []byte) (servedState, bool) {
	if s.served == nil {
		return servedState{}, false
	}
	return s.served.Get(string(k))
}

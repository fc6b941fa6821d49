package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// pin is the tree hash first seen for an unsigned version.
type pin struct {
	tree      string
	firstSeen time.Time
}

const pinVersion = 1

func (p pin) encode() []byte {
	return encodeTimed(pinVersion, uint64(p.firstSeen.UnixNano()), p.tree)
}

func decodePin(b []byte) (pin, error) {
	t, tree, err := decodeTimed(b, pinVersion, "pin")
	if err != nil {
		return pin{}, err
	}
	return pin{firstSeen: time.Unix(0, int64(t)), tree: tree}, nil
}

// encodeTimed lays out the small records that pair a time with a string
// (pins, served state): a format version byte, the time as a big-endian
// uint64 in the record's own unit, then the string, which is never empty.
func encodeTimed(version byte, t uint64, s string) []byte {
	b := make([]byte, 0, 1+8+len(s))
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, t)
	return append(b, s...)
}

// decodeTimed reads what encodeTimed wrote; what names the record in the
// error.
func decodeTimed(b []byte, version byte, what string) (uint64, string, error) {
	if len(b) < 1+8+1 || b[0] != version {
		return 0, "", fmt.Errorf("malformed %s (%d bytes)", what, len(b))
	}
	return binary.BigEndian.Uint64(b[1:]), string(b[9:]), nil
}

func pinKey(eco, pkg, version string) ([]byte, error) {
	k, err := makeKey(nsPin,
		field{"ecosystem", eco, maxNameLen},
		field{"package", pkg, maxNameLen},
		field{"version", version, maxNameLen})
	if err != nil {
		return nil, fmt.Errorf("pin: %w", err)
	}
	return k, nil
}

// PinTree pins tree as the tree hash of an unsigned version unless one is
// pinned already, and returns the pinned hash and when it was first seen
// (trust on first use). The caller compares: a pinned hash other than tree
// means the version's content changed since sigil first saw it. A new pin
// is on disk when the call returns.
func (s *Store) PinTree(ctx context.Context, eco, pkg, version, tree string) (pinned string, firstSeen time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return "", time.Time{}, err
	}
	k, err := pinKey(eco, pkg, version)
	if err != nil {
		return "", time.Time{}, err
	}
	if tree == "" || len(tree) > maxNameLen {
		return "", time.Time{}, fmt.Errorf("pin %s %s %s: tree hash of %d bytes", eco, pkg, version, len(tree))
	}
	if p, ok := s.cachedPin(k); ok {
		return p.tree, p.firstSeen, nil
	}
	mu := s.stripe(k)
	mu.Lock()
	defer mu.Unlock()

	var p pin
	var created bool
	err = s.update(ctx, func(txn *badger.Txn) error {
		created = false
		item, err := txn.Get(k)
		if err == nil {
			return item.Value(func(v []byte) (err error) {
				p, err = decodePin(v)
				return err
			})
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		p, created = pin{tree: tree, firstSeen: s.now()}, true
		return txn.Set(k, p.encode())
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("pin %s %s %s: %w", eco, pkg, version, err)
	}
	if created {
		if err := s.sync(); err != nil {
			return "", time.Time{}, fmt.Errorf("pin %s %s %s: %w", eco, pkg, version, err)
		}
	}
	if s.pins != nil {
		s.pins.Add(string(k), p)
	}
	return p.tree, p.firstSeen, nil
}

// PinnedTree returns the pinned tree hash of a version and when it was first
// seen, or an error wrapping ErrNotFound. It pins nothing.
func (s *Store) PinnedTree(ctx context.Context, eco, pkg, version string) (tree string, firstSeen time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return "", time.Time{}, err
	}
	k, err := pinKey(eco, pkg, version)
	if err != nil {
		return "", time.Time{}, err
	}
	if p, ok := s.cachedPin(k); ok {
		return p.tree, p.firstSeen, nil
	}
	v, err := s.get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", time.Time{}, fmt.Errorf("pin %s %s %s: %w", eco, pkg, version, ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("pin %s %s %s: %w", eco, pkg, version, err)
	}
	p, err := decodePin(v)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("pin %s %s %s: %w", eco, pkg, version, err)
	}
	// Pins never change once stored, so caching them is always safe.
	if s.pins != nil {
		s.pins.Add(string(k), p)
	}
	return p.tree, p.firstSeen, nil
}

func (s *Store) cachedPin(k []byte) (pin, bool) {
	if s.pins == nil {
		return pin{}, false
	}
	return s.pins.Get(string(k))
}

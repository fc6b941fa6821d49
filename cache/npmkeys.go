package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// The signing keys of an npm registry, as its /-/npm/v1/keys document
// published them when sigil first saw each: trust on first use, per key ID.
// One record per registry holds every pinned key.

// nsNPMKeys is this file's namespace (see keys.go): + registry → the
// encoded pinned keys. No other namespace is a prefix of it, nor it of one.
const nsNPMKeys = "v1/npm-keys/"

const npmKeysVersion = 1

// MaxNPMKeys bounds the keys pinned for one registry. npm's registry has
// published two in its history; a document listing more than this many new
// keys is refused rather than grown into the record.
const MaxNPMKeys = 64

func npmKeysKey(registry string) ([]byte, error) {
	k, err := makeKey(nsNPMKeys, field{"registry", registry, maxKeyLen})
	if err != nil {
		return nil, fmt.Errorf("npm keys: %w", err)
	}
	return k, nil
}

// encodeNPMKeys writes the version, then each key ID and its key, both
// length-prefixed, sorted by key ID so that equal sets encode equally.
func encodeNPMKeys(m map[string]string) []byte {
	b := []byte{npmKeysVersion}
	for _, id := range slices.Sorted(maps.Keys(m)) {
		b = appendString(b, id)
		b = appendString(b, m[id])
	}
	return b
}

func decodeNPMKeys(b []byte) (map[string]string, error) {
	if len(b) < 1 || b[0] != npmKeysVersion {
		return nil, fmt.Errorf("malformed npm keys (%d bytes)", len(b))
	}
	m := map[string]string{}
	for b = b[1:]; len(b) > 0; {
		id, rest, ok := readString(b)
		if !ok {
			return nil, errors.New("malformed npm keys: truncated key ID")
		}
		key, rest, ok := readString(rest)
		if !ok {
			return nil, errors.New("malformed npm keys: truncated key")
		}
		m[id] = key
		b = rest
	}
	return m, nil
}

// readString reads one length-prefixed string (appendString's encoding).
func readString(b []byte) (s string, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
}

// PinNPMKeys pins each of keys (key ID → key, as the registry publishes
// them) whose key ID is not yet pinned for registry (its base URL), and
// returns every key pinned for registry, the new ones included. A pinned
// key is never replaced or removed: the caller compares what the registry
// publishes now with what this returns, to tell a key that changed or went
// away. keys may be empty, to read the pins only. New pins are on disk when
// the call returns. Key IDs and keys are at most 1024 bytes, and at most
// MaxNPMKeys keys are pinned per registry. Safe for concurrent use.
func (s *Store) PinNPMKeys(ctx context.Context, registry string, keys map[string]string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := npmKeysKey(registry)
	if err != nil {
		return nil, err
	}
	for id, key := range keys {
		if _, err := makeKey("", field{"key ID", id, maxNameLen}, field{"key", key, maxNameLen}); err != nil {
			return nil, fmt.Errorf("npm keys of %s: %w", registry, err)
		}
	}
	mu := s.stripe(k)
	mu.Lock()
	defer mu.Unlock()

	var pinned map[string]string
	var changed bool
	err = s.update(ctx, func(txn *badger.Txn) error {
		pinned, changed = map[string]string{}, false
		item, err := txn.Get(k)
		switch {
		case err == nil:
			if err := item.Value(func(v []byte) (err error) {
				pinned, err = decodeNPMKeys(v)
				return err
			}); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		for id, key := range keys {
			if _, ok := pinned[id]; !ok {
				pinned[id] = key
				changed = true
			}
		}
		if !changed {
			return nil
		}
		if len(pinned) > MaxNPMKeys {
			return fmt.Errorf("more than %d keys to pin", MaxNPMKeys)
		}
		return txn.Set(k, encodeNPMKeys(pinned))
	})
	if err != nil {
		return nil, fmt.Errorf("npm keys of %s: %w", registry, err)
	}
	if changed {
		if err := s.sync(); err != nil {
			return nil, fmt.Errorf("npm keys of %s: %w", registry, err)
		}
	}
	return pinned, nil
}

// NPMKeyPins is what was pinned for one npm registry.
type NPMKeyPins struct {
	Registry string            // the registry's base URL, as sigil serve names it
	Keys     map[string]string // key ID → key, as first seen
}

// ResetNPMKeys forgets every pinned npm registry signing key, of every
// registry, and returns what it forgot, sorted by registry. It is an
// operator's deliberate answer to a key rotation they have checked: the
// next keys document sigil serve reads is pinned afresh. It touches no
// other record. Nothing in sigil serve calls it.
func (s *Store) ResetNPMKeys(ctx context.Context) ([]NPMKeyPins, error) {
	var out []NPMKeyPins
	err := s.update(ctx, func(txn *badger.Txn) error {
		out = out[:0]
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(nsNPMKeys), PrefetchValues: false})
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			registry, rest, ok := readString(k[len(nsNPMKeys):])
			if !ok || len(rest) != 0 {
				it.Close()
				return fmt.Errorf("malformed npm keys record %q", k)
			}
			var pinned map[string]string
			if err := item.Value(func(v []byte) (err error) {
				pinned, err = decodeNPMKeys(v)
				return err
			}); err != nil {
				// Forgotten all the same: a record sigil cannot read
				// pins nothing it could verify with.
				pinned = nil
			}
			out = append(out, NPMKeyPins{Registry: registry, Keys: pinned})
			keys = append(keys, k)
		}
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reset npm keys: %w", err)
	}
	if len(out) > 0 {
		if err := s.sync(); err != nil {
			return nil, fmt.Errorf("reset npm keys: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b NPMKeyPins) int { return strings.Compare(a.Registry, b.Registry) })
	return out, nil
}

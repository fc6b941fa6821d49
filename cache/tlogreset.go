package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// tagSecErrArchived + uint64 BE reset time (Unix nanoseconds) + uint64 BE
// sequence number → evidence that an operator has acted on.
const tagSecErrArchived = 'a'

// Reset is an operator's deliberate answer to a recorded security error:
// after they have compared the evidence with what others see and decided
// which history to trust, it forgets the stored checkpoint and the cached
// tiles, so that the next verified checkpoint becomes the new starting
// point, and moves the evidence to an archive, where it stays readable
// (ArchivedSecurityErrors) but no longer stops the client. It returns how
// many evidence records it archived. Nothing else in sigil calls it: the
// client fails closed until a person does.
func (l *LogState) Reset(ctx context.Context) (int, error) {
	evidence, err := l.securityErrorKeys(ctx)
	if err != nil {
		return 0, err
	}
	stamp := uint64(time.Now().UnixNano())
	err = l.s.update(ctx, func(txn *badger.Txn) error {
		for _, e := range evidence {
			seq := e.key[len(e.key)-8:]
			archived := l.key(tagSecErrArchived)
			archived = append(archived, beUint64(stamp)...)
			archived = append(archived, seq...)
			if err := txn.Set(archived, e.value); err != nil {
				return err
			}
			if err := txn.Delete(e.key); err != nil {
				return err
			}
		}
		return txn.Delete(l.key(tagCheckpoint))
	})
	if err != nil {
		return 0, fmt.Errorf("reset log %q: %w", l.origin, err)
	}
	// Tiles of the history the operator abandoned must not be offered as
	// verified for the new one.
	l.s.gate.Lock() // DropPrefix refuses concurrent writes (reclaim.go)
	err = l.s.db.DropPrefix(l.key(tagTile))
	l.s.gate.Unlock()
	if err != nil {
		return 0, fmt.Errorf("reset log %q: dropping tiles: %w", l.origin, err)
	}
	if err := l.s.sync(); err != nil {
		return 0, fmt.Errorf("reset log %q: %w", l.origin, err)
	}
	return len(evidence), nil
}

// ArchivedSecurityErrors returns the evidence that Reset archived, oldest
// first.
func (l *LogState) ArchivedSecurityErrors(ctx context.Context) ([][]byte, error) {
	kvs, err := l.scan(ctx, tagSecErrArchived)
	if err != nil {
		return nil, fmt.Errorf("archived security errors of log %q: %w", l.origin, err)
	}
	return values(kvs), nil
}

type keyValue struct{ key, value []byte }

func values(kvs []keyValue) [][]byte {
	out := make([][]byte, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.value
	}
	return out
}

func (l *LogState) securityErrorKeys(ctx context.Context) ([]keyValue, error) {
	kvs, err := l.scan(ctx, tagSecErr)
	if err != nil {
		return nil, fmt.Errorf("security errors of log %q: %w", l.origin, err)
	}
	return kvs, nil
}

// scan returns every record of this log under tag, in key order. It is
// for the small evidence lists, not for tiles.
func (l *LogState) scan(ctx context.Context, tag byte) ([]keyValue, error) {
	var out []keyValue
	err := l.s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: l.key(tag), PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, keyValue{it.Item().KeyCopy(nil), v})
		}
		return nil
	})
	return out, err
}

func beUint64(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

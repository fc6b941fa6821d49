package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/sigilproxy/sigil/tlog"
)

// LogState is the verifying client's state for one release log: its latest
// verified checkpoint, its verified tiles and the evidence of security
// errors. It implements tlog.CheckpointStore and tlog.TileCache. Get one
// with Store.Log; the Store's own methods of those interfaces use the log
// named "".
//
// Logs are kept apart because tiles are cached by path alone: a tile of one
// log read back for another would fail its proofs and look like a fork.
type LogState struct {
	s      *Store
	origin string
	prefix []byte
}

var (
	_ tlog.CheckpointStore = (*LogState)(nil)
	_ tlog.TileCache       = (*LogState)(nil)
)

// Tags that follow a log's prefix.
const (
	tagCheckpoint  = 'c' // → signed checkpoint note
	tagTile        = 't' // + length-prefixed path → tile
	tagSecErr      = 'e' // + uint64 BE sequence number → evidence
	tagSecErrNext  = 'n' // → uint64 BE next sequence number
	maxTilePathLen = 512
	maxTileSize    = 16 << 20 // a full tile is 8 KiB; an entry bundle a few MiB at most
	maxEvidence    = 1 << 20  // two checkpoints and a proof are a few KiB
	maxCheckpoint  = 1 << 20  // a note with many cosignatures is a few KiB
)

func logPrefix(origin string) []byte {
	return appendString([]byte(nsLog), origin)
}

// Log returns the state of the log with the given origin (the first line
// of its checkpoints), kept apart from every other log's.
func (s *Store) Log(origin string) (*LogState, error) {
	if len(origin) > maxNameLen {
		return nil, fmt.Errorf("log origin %.64q… is %d bytes, more than %d", origin, len(origin), maxNameLen)
	}
	return &LogState{s: s, origin: origin, prefix: logPrefix(origin)}, nil
}

func (l *LogState) key(tag byte, rest ...byte) []byte {
	k := make([]byte, 0, len(l.prefix)+1+len(rest))
	k = append(k, l.prefix...)
	k = append(k, tag)
	return append(k, rest...)
}

// Checkpoint implements tlog.CheckpointStore: the stored checkpoint, or nil.
func (l *LogState) Checkpoint(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := l.s.get(l.key(tagCheckpoint))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint of log %q: %w", l.origin, err)
	}
	return v, nil
}

// SwapCheckpoint implements tlog.CheckpointStore. The compare and the swap
// are one transaction; a concurrent swap makes Badger report a conflict,
// and the retry then sees the new value and returns
// tlog.ErrCheckpointMoved. The new checkpoint is on disk when it returns.
func (l *LogState) SwapCheckpoint(ctx context.Context, old, new []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(new) == 0 || len(new) > maxCheckpoint {
		return fmt.Errorf("swap checkpoint of log %q: new checkpoint of %d bytes", l.origin, len(new))
	}
	k := l.key(tagCheckpoint)
	err := l.s.update(ctx, func(txn *badger.Txn) error {
		var cur []byte
		item, err := txn.Get(k)
		switch {
		case err == nil:
			if cur, err = item.ValueCopy(nil); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		if !bytes.Equal(cur, old) {
			return tlog.ErrCheckpointMoved
		}
		return txn.Set(k, bytes.Clone(new))
	})
	if err == nil {
		err = l.s.sync()
	}
	if err != nil {
		return fmt.Errorf("swap checkpoint of log %q: %w", l.origin, err)
	}
	return nil
}

// RecordSecurityError implements tlog.CheckpointStore. Evidence is kept in
// order, for ever, and is on disk when it returns.
func (l *LogState) RecordSecurityError(ctx context.Context, evidence []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(evidence) == 0 || len(evidence) > maxEvidence {
		return fmt.Errorf("record security error of log %q: evidence of %d bytes (limit %d)", l.origin, len(evidence), maxEvidence)
	}
	nextKey := l.key(tagSecErrNext)
	err := l.s.update(ctx, func(txn *badger.Txn) error {
		var next uint64
		item, err := txn.Get(nextKey)
		switch {
		case err == nil:
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("malformed sequence number (%d bytes)", len(v))
				}
				next = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		if err := txn.Set(l.key(tagSecErr, binary.BigEndian.AppendUint64(nil, next)...), bytes.Clone(evidence)); err != nil {
			return err
		}
		return txn.Set(nextKey, binary.BigEndian.AppendUint64(nil, next+1))
	})
	if err == nil {
		err = l.s.sync()
	}
	if err != nil {
		return fmt.Errorf("record security error of log %q: %w", l.origin, err)
	}
	return nil
}

// SecurityErrors implements tlog.CheckpointStore: every recorded evidence
// text, oldest first.
func (l *LogState) SecurityErrors(ctx context.Context) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kvs, err := l.securityErrorKeys(ctx)
	if err != nil {
		return nil, err
	}
	return values(kvs), nil
}

func (l *LogState) tileKey(path string) ([]byte, error) {
	if path == "" || len(path) > maxTilePathLen {
		return nil, fmt.Errorf("tile path %.64q of %d bytes", path, len(path))
	}
	return appendString(l.key(tagTile), path), nil
}

// Tile implements tlog.TileCache.
func (l *LogState) Tile(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := l.tileKey(path)
	if err != nil {
		return nil, err
	}
	v, err := l.s.get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("tile %q of log %q: %w", path, l.origin, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("tile %q of log %q: %w", path, l.origin, err)
	}
	return v, nil
}

// PutTile implements tlog.TileCache. A tile path names fixed content (a
// partial tile's width is in its path), so storing different data under a
// stored path is refused: two verified trees disagree, and the first
// verified tile stays.
func (l *LogState) PutTile(ctx context.Context, path string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := l.tileKey(path)
	if err != nil {
		return err
	}
	if len(data) > maxTileSize {
		return fmt.Errorf("store tile %q of log %q: %d bytes, more than %d", path, l.origin, len(data), maxTileSize)
	}
	err = l.s.update(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		switch {
		case err == nil:
			return item.Value(func(v []byte) error {
				if !bytes.Equal(v, data) {
					return fmt.Errorf("a different tile of %d bytes is stored under this path", len(v))
				}
				return nil
			})
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		return txn.Set(k, bytes.Clone(data))
	})
	if err != nil {
		return fmt.Errorf("store tile %q of log %q: %w", path, l.origin, err)
	}
	return nil
}

// Checkpoint implements tlog.CheckpointStore for the log named "".
func (s *Store) Checkpoint(ctx context.Context) ([]byte, error) {
	return s.defaultLog.Checkpoint(ctx)
}

// SwapCheckpoint implements tlog.CheckpointStore for the log named "".
func (s *Store) SwapCheckpoint(ctx context.Context, old, new []byte) error {
	return s.defaultLog.SwapCheckpoint(ctx, old, new)
}

// RecordSecurityError implements tlog.CheckpointStore for the log named "".
func (s *Store) RecordSecurityError(ctx context.Context, evidence []byte) error {
	return s.defaultLog.RecordSecurityError(ctx, evidence)
}

// SecurityErrors implements tlog.CheckpointStore for the log named "".
func (s *Store) SecurityErrors(ctx context.Context) ([][]byte, error) {
	return s.defaultLog.SecurityErrors(ctx)
}

// Tile implements tlog.TileCache for the log named "".
func (s *Store) Tile(ctx context.Context, path string) ([]byte, error) {
	return s.defaultLog.Tile(ctx, path)
}

// PutTile implements tlog.TileCache for the log named "".
func (s *Store) PutTile(ctx context.Context, path string, data []byte) error {
	return s.defaultLog.PutTile(ctx, path, data)
}

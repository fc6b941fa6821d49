package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// The index maps packages and namespaces to the log entries that concern
// them. It lives in Badger beside the log and holds nothing that the log
// does not: it can be deleted at any time and is rebuilt from the entry
// bundles on the next start. Keys (eco, pkg and ns are validated names,
// which never contain a NUL byte; idx is a big-endian uint64, so that a
// prefix scan returns entries in log order):
//
//	"s" 0 eco 0 pkg 0 idx      -> signed note of a release statement
//	"k" 0 eco 0 ns 0 idx       -> signed note of a key event
//	"v" 0 eco 0 pkg 0 version  -> idx of the first statement of that version
//	"o" 0 eco 0 pkg 0 idx      -> signed note of an observation
//	"x" 0 eco 0 pkg 0 version  -> idx of the first observation of that version
//	"w"                        -> watermark: every entry below it is indexed
//
// Writes are idempotent (an entry always produces the same keys), so an
// entry indexed twice, after a crash between Tessera's write and ours, is
// harmless. The watermark only ever names a size up to which every entry is
// known to be indexed; on start everything from the watermark to the end of
// the log is (re)indexed.
type index struct {
	db *badger.DB
}

var watermarkKey = []byte("w")

// indexed is one logged entry as the index knows it.
type indexed struct {
	idx  uint64
	note []byte
}

func openIndex(dir string, logger *slog.Logger) (*index, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger}).
		// The index is small and rebuildable; these keep its footprint
		// (and that of every test) modest.
		WithMemTableSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumVersionsToKeep(1)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("opening index %s: %w", dir, err)
	}
	return &index{db: db}, nil
}

func (ix *index) close() error { return ix.db.Close() }

func idxBytes(idx uint64) []byte { return binary.BigEndian.AppendUint64(nil, idx) }

func joinKey(kind byte, parts ...string) []byte {
	k := []byte{kind}
	for _, p := range parts {
		k = append(k, 0)
		k = append(k, p...)
	}
	return k
}

func statementPrefix(eco, pkg string) []byte { return append(joinKey('s', eco, pkg), 0) }
func keyEventPrefix(eco, ns string) []byte   { return append(joinKey('k', eco, ns), 0) }
func versionKey(eco, pkg, version string) []byte {
	return joinKey('v', eco, pkg, version)
}
func observationPrefix(eco, pkg string) []byte { return append(joinKey('o', eco, pkg), 0) }
func observedKey(eco, pkg, version string) []byte {
	return joinKey('x', eco, pkg, version)
}

// entryKeys are the writes that index one entry.
type entryKeys struct {
	eco     string
	idx     uint64
	note    []byte
	primary []byte // "s…", "k…" or "o…" prefix, idx appended
	version []byte // "v…" for a statement, "x…" for an observation, nil for a key event
}

func statementKeys(idx uint64, note []byte, eco, pkg, version string) entryKeys {
	return entryKeys{eco: eco, idx: idx, note: note, primary: statementPrefix(eco, pkg), version: versionKey(eco, pkg, version)}
}

func observationKeys(idx uint64, note []byte, eco, pkg, version string) entryKeys {
	return entryKeys{eco: eco, idx: idx, note: note, primary: observationPrefix(eco, pkg), version: observedKey(eco, pkg, version)}
}

func keyEventKeys(idx uint64, note []byte, eco, ns string) entryKeys {
	return entryKeys{eco: eco, idx: idx, note: note, primary: keyEventPrefix(eco, ns)}
}

// put indexes entries, and moves the watermark to watermark if it is not
// zero. The version key keeps the lowest index: the first statement of a
// version is the one that counts.
func (ix *index) put(entries []entryKeys, watermark uint64) error {
	return ix.db.Update(func(txn *badger.Txn) error {
		for _, e := range entries {
			if err := txn.Set(append(slices.Clip(e.primary), idxBytes(e.idx)...), e.note); err != nil {
				return err
			}
			if e.version == nil {
				continue
			}
			switch old, ok, err := getIdx(txn, e.version); {
			case err != nil:
				return err
			case ok && old <= e.idx:
			default:
				if err := txn.Set(e.version, idxBytes(e.idx)); err != nil {
					return err
				}
			}
		}
		if watermark > 0 {
			return txn.Set(watermarkKey, idxBytes(watermark))
		}
		return nil
	})
}

func getIdx(txn *badger.Txn, key []byte) (uint64, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var idx uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("index: corrupt value under %q", key)
		}
		idx = binary.BigEndian.Uint64(v)
		return nil
	})
	return idx, err == nil, err
}

// setWatermark records that every entry below size is indexed.
func (ix *index) setWatermark(size uint64) error {
	return ix.db.Update(func(txn *badger.Txn) error {
		return txn.Set(watermarkKey, idxBytes(size))
	})
}

// watermark returns the size below which every entry is indexed (0 for a
// new index).
func (ix *index) watermark() (uint64, error) {
	var w uint64
	err := ix.db.View(func(txn *badger.Txn) error {
		var err error
		w, _, err = getIdx(txn, watermarkKey)
		return err
	})
	return w, err
}

// version returns the index of the first statement of a version and its
// note.
func (ix *index) version(eco, pkg, version string) (indexed, bool, error) {
	return ix.first(versionKey(eco, pkg, version), statementPrefix(eco, pkg))
}

// observation returns the index of the first observation of a version and
// its note.
func (ix *index) observation(eco, pkg, version string) (indexed, bool, error) {
	return ix.first(observedKey(eco, pkg, version), observationPrefix(eco, pkg))
}

// unobserved returns those of versions that have no observation, in one
// read transaction: a warm lookup of many versions costs one.
func (ix *index) unobserved(eco, pkg string, versions []string) ([]string, error) {
	var out []string
	err := ix.db.View(func(txn *badger.Txn) error {
		for _, v := range versions {
			_, ok, err := getIdx(txn, observedKey(eco, pkg, v))
			if err != nil {
				return err
			}
			if !ok {
				out = append(out, v)
			}
		}
		return nil
	})
	return out, err
}

// first follows a version key to the entry it names under prefix.
func (ix *index) first(key, prefix []byte) (indexed, bool, error) {
	var e indexed
	var found bool
	err := ix.db.View(func(txn *badger.Txn) error {
		idx, ok, err := getIdx(txn, key)
		if err != nil || !ok {
			return err
		}
		item, err := txn.Get(append(slices.Clip(prefix), idxBytes(idx)...))
		if err != nil {
			return fmt.Errorf("index: %q points at entry %d, which is not indexed: %w", key, idx, err)
		}
		note, err := item.ValueCopy(nil)
		e, found = indexed{idx: idx, note: note}, true
		return err
	})
	return e, found, err
}

// scan returns the entries under prefix with an index below size, in log
// order.
func (ix *index) scan(prefix []byte, size uint64) ([]indexed, error) {
	var out []indexed
	err := ix.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != len(prefix)+8 {
				// A longer name that shares the prefix cannot occur (the
				// prefix ends in NUL), so this is corruption.
				return fmt.Errorf("index: malformed key %q", k)
			}
			idx := binary.BigEndian.Uint64(k[len(prefix):])
			if idx >= size {
				break
			}
			note, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, indexed{idx: idx, note: note})
		}
		return nil
	})
	return out, err
}

// allKeyEvents returns every indexed key event of every ecosystem, in log
// order: the input for rebuilding the keyrings.
func (ix *index) allKeyEvents() ([]indexed, error) {
	var out []indexed
	err := ix.db.View(func(txn *badger.Txn) error {
		prefix := []byte{'k', 0}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) < 8 {
				return fmt.Errorf("index: malformed key %q", k)
			}
			note, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, indexed{idx: binary.BigEndian.Uint64(k[len(k)-8:]), note: note})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b indexed) int { return cmp.Compare(a.idx, b.idx) })
	return out, err
}

// drop deletes everything, for a rebuild from the log.
func (ix *index) drop() error { return ix.db.DropAll() }

// badgerLogger routes Badger's messages to slog: errors and warnings as
// such, the chatty info and debug output at debug level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.log(slog.LevelWarn, f, a)
}
func (b badgerLogger) Infof(f string, a ...any)  { b.log(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any) { b.log(slog.LevelDebug, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, string(bytes.TrimRight(fmt.Appendf(nil, f, a...), "\n")), "component", "index")
}

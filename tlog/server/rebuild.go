package server

import (
	"context"
	"fmt"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/sigilproxy/sigil/release"
)

// catchUp makes the index cover every entry of the log, reading the entry
// bundles from the index's watermark to the log's size, then replays every
// logged key event into fresh keyrings and sets the next index. It runs on
// start (so that a crash between Tessera's write and the index's loses
// nothing, and a deleted index is rebuilt) and after a failed add. The
// caller holds s.mu or has not yet published s.
func (s *Server) catchUp(ctx context.Context) error {
	size, err := s.reader.IntegratedSize(ctx)
	if err != nil {
		return fmt.Errorf("reading log size: %w", err)
	}
	wm, err := s.ix.watermark()
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if wm > size {
		// The index knows entries the log does not have: the log directory
		// was replaced or restored. Nothing in the index can be trusted.
		s.log.Warn("index is ahead of the log; rebuilding it", "index_size", wm, "log_size", size)
		if err := s.ix.drop(); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		wm = 0
	}
	if wm < size {
		s.log.Info("indexing log entries", "from", wm, "to", size)
		if err := s.indexRange(ctx, wm, size); err != nil {
			return err
		}
	}
	if err := s.rebuildKeyrings(); err != nil {
		return err
	}
	s.next = size
	return nil
}

// indexRange indexes the entries [from, to) of the log, one entry bundle at
// a time, moving the watermark after each.
func (s *Server) indexRange(ctx context.Context, from, to uint64) error {
	for ri := range layout.Range(from, to-from, to) {
		raw, err := s.reader.ReadEntryBundle(ctx, ri.Index, ri.Partial)
		if err != nil {
			return fmt.Errorf("reading entry bundle %d: %w", ri.Index, err)
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(raw); err != nil {
			return fmt.Errorf("entry bundle %d: %w", ri.Index, err)
		}
		if uint(len(b.Entries)) < ri.First+ri.N {
			return fmt.Errorf("entry bundle %d has %d entries, want at least %d", ri.Index, len(b.Entries), ri.First+ri.N)
		}
		first := ri.Index*layout.EntryBundleWidth + uint64(ri.First)
		var keys []entryKeys
		for j, msg := range b.Entries[ri.First : ri.First+ri.N] {
			idx := first + uint64(j)
			k, err := keysOf(idx, msg)
			if err != nil {
				s.log.Warn("log entry is not a sigil note; not indexed", "index", idx, "err", err)
				continue
			}
			keys = append(keys, k)
		}
		if err := s.ix.put(keys, first+uint64(ri.N)); err != nil {
			return fmt.Errorf("index: %w", err)
		}
	}
	return nil
}

// keysOf parses a logged note and returns its index keys.
func keysOf(idx uint64, msg []byte) (entryKeys, error) {
	text, err := noteText(msg)
	if err != nil {
		return entryKeys{}, err
	}
	parsed, err := release.ParseText(text)
	if err != nil {
		return entryKeys{}, err
	}
	switch v := parsed.(type) {
	case *release.Statement:
		return statementKeys(idx, msg, v.Ecosystem, v.Package, v.Version), nil
	case *release.KeyEvent:
		return keyEventKeys(idx, msg, v.Ecosystem, v.Namespace), nil
	case *release.Observation:
		return observationKeys(idx, msg, v.Ecosystem, v.Package, v.Version), nil
	}
	return entryKeys{}, fmt.Errorf("unknown note type %T", parsed)
}

// rebuildKeyrings replays every logged key event, in log order, into fresh
// keyrings. An event the keyring refuses (possible only if the core keys
// changed since it was admitted) is skipped with a warning: clients replay
// the same log and refuse it too.
func (s *Server) rebuildKeyrings() error {
	auths, err := newAuthorities(s.cfg.CoreKeys)
	if err != nil {
		return err
	}
	events, err := s.ix.allKeyEvents()
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	for _, e := range events {
		k, err := keysOf(e.idx, e.note)
		if err != nil {
			return fmt.Errorf("index: entry %d: %w", e.idx, err)
		}
		a, ok := auths[k.eco]
		if !ok {
			continue
		}
		if err := a.apply(e.idx, e.note); err != nil {
			s.log.Warn("logged key event is not valid under the configured core keys; ignored", "index", e.idx, "err", err)
		}
	}
	s.auth = auths
	return nil
}

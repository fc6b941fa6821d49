// Package tlogtest holds what tests of the release log client share: an
// in-memory CheckpointStore and TileCache, and the conformance tests that
// every implementation of those interfaces must pass; and, for tests of
// what decides from the log's evidence, Trust, a tlog.PackageTrust built
// by hand.
package tlogtest

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/sigilproxy/sigil/tlog"
)

var (
	_ tlog.CheckpointStore = (*Store)(nil)
	_ tlog.TileCache       = (*Tiles)(nil)
)

// Store is a CheckpointStore in memory. The zero value is empty and ready.
type Store struct {
	mu         sync.Mutex
	checkpoint []byte
	evidence   [][]byte
}

func (s *Store) Checkpoint(context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.checkpoint), nil
}

func (s *Store) SwapCheckpoint(_ context.Context, old, new []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if (old == nil) != (s.checkpoint == nil) || !bytes.Equal(old, s.checkpoint) {
		return tlog.ErrCheckpointMoved
	}
	s.checkpoint = bytes.Clone(new)
	return nil
}

func (s *Store) RecordSecurityError(_ context.Context, evidence []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evidence = append(s.evidence, bytes.Clone(evidence))
	return nil
}

func (s *Store) SecurityErrors(context.Context) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.evidence))
	for i, e := range s.evidence {
		out[i] = bytes.Clone(e)
	}
	return out, nil
}

// Reset forgets the checkpoint and the evidence, as an operator's
// deliberate reset would.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkpoint, s.evidence = nil, nil
}

// Tiles is a TileCache in memory. The zero value is empty and ready.
type Tiles struct {
	mu    sync.Mutex
	tiles map[string][]byte
	puts  int
}

func (t *Tiles) Tile(_ context.Context, path string) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.tiles[path]
	if !ok {
		return nil, tlog.ErrNotFound
	}
	return bytes.Clone(d), nil
}

func (t *Tiles) PutTile(_ context.Context, path string, data []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tiles == nil {
		t.tiles = make(map[string][]byte)
	}
	t.tiles[path] = bytes.Clone(data)
	t.puts++
	return nil
}

// Paths returns the paths of the cached tiles, sorted.
func (t *Tiles) Paths() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var p []string
	for k := range t.tiles {
		p = append(p, k)
	}
	slices.Sort(p)
	return p
}

// Puts counts the calls to PutTile.
func (t *Tiles) Puts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.puts
}

package tlogtest

import (
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/tlog"
)

func TestMemoryStore(t *testing.T) {
	// A memory store lives as long as the process, so "reopening" a
	// directory returns the store opened on it before.
	var mu sync.Mutex
	stores := map[string]*Store{}
	TestCheckpointStore(t, func(t *testing.T, dir string) tlog.CheckpointStore {
		mu.Lock()
		defer mu.Unlock()
		if stores[dir] == nil {
			stores[dir] = new(Store)
		}
		return stores[dir]
	})
}

func TestMemoryTiles(t *testing.T) {
	TestTileCache(t, func(*testing.T) tlog.TileCache { return new(Tiles) })
}

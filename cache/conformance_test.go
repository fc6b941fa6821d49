package cache

import (
	"testing"

	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

func TestCheckpointStoreConformance(t *testing.T) {
	t.Run("Store", func(t *testing.T) {
		tlogtest.TestCheckpointStore(t, func(t *testing.T, dir string) tlog.CheckpointStore {
			s := openDisk(t, dir)
			t.Cleanup(func() { s.Close() }) // Close is idempotent
			return s
		})
	})
	t.Run("LogState", func(t *testing.T) {
		tlogtest.TestCheckpointStore(t, func(t *testing.T, dir string) tlog.CheckpointStore {
			s := openDisk(t, dir)
			t.Cleanup(func() { s.Close() })
			l, err := s.Log("log.example/one")
			if err != nil {
				t.Fatal(err)
			}
			return closingLog{l, s}
		})
	})
}

// closingLog closes its store when the conformance test restarts it.
type closingLog struct {
	*LogState
	s *Store
}

func (c closingLog) Close() error { return c.s.Close() }

func TestTileCacheConformance(t *testing.T) {
	t.Run("Store", func(t *testing.T) {
		tlogtest.TestTileCache(t, func(t *testing.T) tlog.TileCache { return newMemStore(t) })
	})
	t.Run("LogState", func(t *testing.T) {
		tlogtest.TestTileCache(t, func(t *testing.T) tlog.TileCache {
			l, err := newMemStore(t).Log("log.example/one")
			if err != nil {
				t.Fatal(err)
			}
			return l
		})
	})
}

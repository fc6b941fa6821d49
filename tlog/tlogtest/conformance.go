package tlogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/tlog"
)

// TestCheckpointStore checks that the stores open returns keep the
// CheckpointStore contract. open is called with a directory, and may be
// called again with the same directory to check that what was stored
// survives a restart; a store that implements io.Closer is closed first.
func TestCheckpointStore(t *testing.T, open func(t *testing.T, dir string) tlog.CheckpointStore) {
	ctx := context.Background()
	a, b, c := []byte("origin\n1\nA=\n\n— a\n"), []byte("origin\n2\nB=\n\n— b\n"), []byte("origin\n3\nC=\n\n— c\n")

	t.Run("Empty", func(t *testing.T) {
		s := open(t, t.TempDir())
		defer closeStore(t, s)
		got, err := s.Checkpoint(ctx)
		if err != nil || got != nil {
			t.Fatalf("Checkpoint of an empty store = %q, %v; want nil, nil", got, err)
		}
		ev, err := s.SecurityErrors(ctx)
		if err != nil || len(ev) != 0 {
			t.Fatalf("SecurityErrors of an empty store = %q, %v; want none", ev, err)
		}
	})

	t.Run("CompareAndSwap", func(t *testing.T) {
		s := open(t, t.TempDir())
		defer closeStore(t, s)
		mustSwap(t, s, nil, a)
		wantCheckpoint(t, s, a)
		if err := s.SwapCheckpoint(ctx, nil, b); !errors.Is(err, tlog.ErrCheckpointMoved) {
			t.Fatalf("SwapCheckpoint(nil, b) over a stored checkpoint = %v; want ErrCheckpointMoved", err)
		}
		if err := s.SwapCheckpoint(ctx, c, b); !errors.Is(err, tlog.ErrCheckpointMoved) {
			t.Fatalf("SwapCheckpoint(c, b) while a is stored = %v; want ErrCheckpointMoved", err)
		}
		wantCheckpoint(t, s, a)
		mustSwap(t, s, a, b)
		wantCheckpoint(t, s, b)
		if err := s.SwapCheckpoint(ctx, a, c); !errors.Is(err, tlog.ErrCheckpointMoved) {
			t.Fatalf("SwapCheckpoint(a, c) after a was replaced = %v; want ErrCheckpointMoved", err)
		}
		wantCheckpoint(t, s, b)
	})

	t.Run("Copies", func(t *testing.T) {
		s := open(t, t.TempDir())
		defer closeStore(t, s)
		arg := bytes.Clone(a)
		mustSwap(t, s, nil, arg)
		arg[0] = 'X'
		got, _ := s.Checkpoint(ctx)
		got[1] = 'Y'
		wantCheckpoint(t, s, a)
	})

	t.Run("ConcurrentSwaps", func(t *testing.T) {
		s := open(t, t.TempDir())
		defer closeStore(t, s)
		mustSwap(t, s, nil, a)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.SwapCheckpoint(ctx, a, fmt.Appendf(nil, "origin\n2\nW%d=\n\n— w\n", i))
			})
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("swaps %d and %d both replaced the same checkpoint", won, i)
			case err == nil:
				won = i
			case !errors.Is(err, tlog.ErrCheckpointMoved):
				t.Fatalf("swap %d: %v; want nil or ErrCheckpointMoved", i, err)
			}
		}
		if won < 0 {
			t.Fatalf("no concurrent swap won")
		}
		wantCheckpoint(t, s, fmt.Appendf(nil, "origin\n2\nW%d=\n\n— w\n", won))
	})

	t.Run("SecurityErrors", func(t *testing.T) {
		s := open(t, t.TempDir())
		defer closeStore(t, s)
		for _, e := range []string{"SECURITY ERROR\nfirst\n", "SECURITY ERROR\nsecond\n"} {
			if err := s.RecordSecurityError(ctx, []byte(e)); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := s.SecurityErrors(ctx)
		if err != nil || len(ev) != 2 || string(ev[0]) != "SECURITY ERROR\nfirst\n" || string(ev[1]) != "SECURITY ERROR\nsecond\n" {
			t.Fatalf("SecurityErrors = %q, %v; want both, oldest first", ev, err)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		mustSwap(t, s, nil, a)
		mustSwap(t, s, a, b)
		if err := s.RecordSecurityError(ctx, []byte("evidence\n")); err != nil {
			t.Fatal(err)
		}
		closeStore(t, s)
		s = open(t, dir)
		defer closeStore(t, s)
		wantCheckpoint(t, s, b)
		ev, err := s.SecurityErrors(ctx)
		if err != nil || len(ev) != 1 || string(ev[0]) != "evidence\n" {
			t.Fatalf("SecurityErrors after a restart = %q, %v; want the recorded evidence", ev, err)
		}
		mustSwap(t, s, b, c)
	})
}

// TestTileCache checks that the caches newCache returns keep the TileCache
// contract.
func TestTileCache(t *testing.T, newCache func(t *testing.T) tlog.TileCache) {
	ctx := context.Background()
	full := bytes.Repeat([]byte{1}, 256*32)
	partial := bytes.Repeat([]byte{2}, 5*32)

	t.Run("NotFound", func(t *testing.T) {
		c := newCache(t)
		if _, err := c.Tile(ctx, "tile/0/000"); !errors.Is(err, tlog.ErrNotFound) {
			t.Fatalf("Tile of an empty cache: %v; want ErrNotFound", err)
		}
	})

	t.Run("PutGet", func(t *testing.T) {
		c := newCache(t)
		for path, d := range map[string][]byte{"tile/0/x001/234": full, "tile/0/x001/234.p/5": partial, "tile/1/000.p/5": partial} {
			if err := c.PutTile(ctx, path, d); err != nil {
				t.Fatal(err)
			}
			if err := c.PutTile(ctx, path, bytes.Clone(d)); err != nil {
				t.Fatalf("second PutTile of the same tile: %v", err)
			}
		}
		for path, want := range map[string][]byte{"tile/0/x001/234": full, "tile/0/x001/234.p/5": partial, "tile/1/000.p/5": partial} {
			got, err := c.Tile(ctx, path)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Tile(%q) = %d bytes, %v; want the %d bytes put", path, len(got), err, len(want))
			}
		}
		if _, err := c.Tile(ctx, "tile/0/x001/235"); !errors.Is(err, tlog.ErrNotFound) {
			t.Fatalf("Tile of another path: %v; want ErrNotFound", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		c := newCache(t)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				path := fmt.Sprintf("tile/0/%03d", i%4)
				if err := c.PutTile(ctx, path, full); err != nil {
					t.Error(err)
				}
				if got, err := c.Tile(ctx, path); err != nil || !bytes.Equal(got, full) {
					t.Errorf("Tile(%q) after PutTile: %d bytes, %v", path, len(got), err)
				}
			})
		}
		wg.Wait()
	})
}

func mustSwap(t *testing.T, s tlog.CheckpointStore, old, new []byte) {
	t.Helper()
	if err := s.SwapCheckpoint(context.Background(), old, new); err != nil {
		t.Fatalf("SwapCheckpoint(%q, %q): %v", old, new, err)
	}
}

func wantCheckpoint(t *testing.T, s tlog.CheckpointStore, want []byte) {
	t.Helper()
	got, err := s.Checkpoint(context.Background())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Checkpoint = %q, %v; want %q", got, err, want)
	}
}

func closeStore(t *testing.T, s tlog.CheckpointStore) {
	t.Helper()
	if c, ok := s.(io.Closer); ok {
		if err := c.Close(); err != nil {
			t.Fatalf("closing the store: %v", err)
		}
	}
}

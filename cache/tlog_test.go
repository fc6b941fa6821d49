package cache

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/tlog"
)

func TestCheckpointSwap(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	if cp, err := s.Checkpoint(ctx); err != nil || cp != nil {
		t.Fatalf("Checkpoint before any = %q, %v", cp, err)
	}
	if err := s.SwapCheckpoint(ctx, []byte("x"), []byte("c1")); !errors.Is(err, tlog.ErrCheckpointMoved) {
		t.Fatalf("swap from a checkpoint never stored: %v", err)
	}
	if err := s.SwapCheckpoint(ctx, nil, []byte("c1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SwapCheckpoint(ctx, nil, []byte("c2")); !errors.Is(err, tlog.ErrCheckpointMoved) {
		t.Fatalf("swap from nil over a stored checkpoint: %v", err)
	}
	if err := s.SwapCheckpoint(ctx, []byte("c1"), []byte("c2")); err != nil {
		t.Fatal(err)
	}
	if cp, _ := s.Checkpoint(ctx); string(cp) != "c2" {
		t.Fatalf("Checkpoint = %q, want c2", cp)
	}
	if err := s.SwapCheckpoint(ctx, []byte("c2"), nil); err == nil {
		t.Error("swap to an empty checkpoint succeeded")
	}
}

func TestCheckpointSwapRace(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	if err := s.SwapCheckpoint(ctx, nil, []byte("c0")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for w := range 32 {
		wg.Go(func() {
			err := s.SwapCheckpoint(ctx, []byte("c0"), fmt.Appendf(nil, "c1 by %d", w))
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, tlog.ErrCheckpointMoved):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d swaps from one checkpoint succeeded, want 1", won)
	}
}

func TestSecurityErrors(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	if ev, err := s.SecurityErrors(ctx); err != nil || len(ev) != 0 {
		t.Fatalf("SecurityErrors before any = %q, %v", ev, err)
	}
	for i := range 300 { // more than 256: the order must not be the byte order of a short counter
		if err := s.RecordSecurityError(ctx, fmt.Appendf(nil, "evidence %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := s.SecurityErrors(ctx)
	if err != nil || len(ev) != 300 {
		t.Fatalf("SecurityErrors = %d, %v", len(ev), err)
	}
	for i, e := range ev {
		if want := fmt.Sprint("evidence ", i); string(e) != want {
			t.Fatalf("evidence %d is %q, want %q", i, e, want)
		}
	}
	if err := s.RecordSecurityError(ctx, nil); err == nil {
		t.Error("recording empty evidence succeeded")
	}
}

func TestTiles(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	const path = "tile/0/x001/234.p/5"
	if _, err := s.Tile(ctx, path); !errors.Is(err, tlog.ErrNotFound) || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Tile before any: %v, want tlog.ErrNotFound naming the path", err)
	}
	if err := s.PutTile(ctx, path, []byte("hashes")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTile(ctx, path, []byte("hashes")); err != nil {
		t.Fatalf("storing the same tile again: %v", err)
	}
	if err := s.PutTile(ctx, path, []byte("others")); err == nil {
		t.Fatal("storing a different tile under a stored path succeeded")
	}
	if tile, err := s.Tile(ctx, path); err != nil || string(tile) != "hashes" {
		t.Fatalf("Tile = %q, %v", tile, err)
	}
	if err := s.PutTile(ctx, "", []byte("x")); err == nil {
		t.Error("PutTile with an empty path succeeded")
	}
}

func TestLogsAreSeparate(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	a, err := s.Log("log.a.example")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Log("log.b.example")
	if err := a.SwapCheckpoint(ctx, nil, []byte("a1")); err != nil {
		t.Fatal(err)
	}
	if err := a.PutTile(ctx, "tile/0/000", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordSecurityError(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	for _, l := range []tlogState{b, s} {
		if cp, _ := l.Checkpoint(ctx); cp != nil {
			t.Errorf("checkpoint of log a seen elsewhere: %q", cp)
		}
		if _, err := l.Tile(ctx, "tile/0/000"); !errors.Is(err, ErrNotFound) {
			t.Errorf("tile of log a seen elsewhere: %v", err)
		}
		if ev, _ := l.SecurityErrors(ctx); len(ev) != 0 {
			t.Errorf("evidence of log a seen elsewhere: %q", ev)
		}
	}
	if _, err := s.Log(strings.Repeat("o", maxNameLen+1)); err == nil {
		t.Error("Log with a huge origin succeeded")
	}
}

type tlogState interface {
	tlog.CheckpointStore
	tlog.TileCache
}

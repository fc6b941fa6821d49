package cache

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestLogStateReset(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, _ := s.Log("log.example")
	other, _ := s.Log("other.example")
	if err := l.SwapCheckpoint(ctx, nil, []byte("cp1")); err != nil {
		t.Fatal(err)
	}
	other.SwapCheckpoint(ctx, nil, []byte("other cp"))
	l.PutTile(ctx, "tile/0/000", []byte("tile"))
	other.PutTile(ctx, "tile/0/000", []byte("other tile"))
	l.RecordSecurityError(ctx, []byte("SECURITY ERROR one"))
	l.RecordSecurityError(ctx, []byte("SECURITY ERROR two"))

	n, err := l.Reset(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Reset = %d, %v; want 2 archived", n, err)
	}
	if ev, _ := l.SecurityErrors(ctx); len(ev) != 0 {
		t.Errorf("evidence still blocks the client after Reset: %q", ev)
	}
	if cp, _ := l.Checkpoint(ctx); cp != nil {
		t.Errorf("checkpoint %q kept after Reset", cp)
	}
	if _, err := l.Tile(ctx, "tile/0/000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tile kept after Reset: %v", err)
	}
	arch, err := l.ArchivedSecurityErrors(ctx)
	if err != nil || len(arch) != 2 || !bytes.Equal(arch[0], []byte("SECURITY ERROR one")) {
		t.Errorf("archived evidence = %q, %v", arch, err)
	}
	// Another log's state is untouched.
	if cp, _ := other.Checkpoint(ctx); string(cp) != "other cp" {
		t.Errorf("other log's checkpoint = %q", cp)
	}
	if tile, err := other.Tile(ctx, "tile/0/000"); err != nil || string(tile) != "other tile" {
		t.Errorf("other log's tile = %q, %v", tile, err)
	}
	// New evidence after a reset is recorded and blocks again.
	l.RecordSecurityError(ctx, []byte("SECURITY ERROR three"))
	if ev, _ := l.SecurityErrors(ctx); len(ev) != 1 {
		t.Errorf("evidence after reset = %q", ev)
	}
}

package tlog

import (
	"context"
	"errors"
)

// ErrNotFound is returned by a TileCache for a tile it does not hold.
var ErrNotFound = errors.New("not found")

// ErrCheckpointMoved is returned by CheckpointStore.SwapCheckpoint when the
// stored checkpoint is no longer the one the caller verified against:
// another verification won the race, and the caller must verify again.
var ErrCheckpointMoved = errors.New("stored checkpoint changed concurrently")

// CheckpointStore keeps the latest verified checkpoint of one log, across
// restarts. The client calls it from many goroutines at once.
type CheckpointStore interface {
	// Checkpoint returns the stored signed checkpoint note, or nil and no
	// error when none was ever stored.
	Checkpoint(ctx context.Context) ([]byte, error)
	// SwapCheckpoint replaces old with new atomically and durably. old is nil
	// when nothing was stored before. If the stored value is not old, it
	// changes nothing and returns ErrCheckpointMoved. The client only ever
	// passes a new checkpoint that it proved consistent with old, so the
	// stored checkpoint never moves back.
	SwapCheckpoint(ctx context.Context, old, new []byte) error
	// RecordSecurityError durably keeps the evidence of a failed
	// consistency check (a self-contained text, see SecurityError) for an
	// operator to read. It must not fail silently: an error is returned.
	RecordSecurityError(ctx context.Context, evidence []byte) error
	// SecurityErrors returns every recorded evidence text, oldest first.
	SecurityErrors(ctx context.Context) ([][]byte, error)
}

// TileCache holds tiles that were verified against a checkpoint. Nothing
// unverified is ever put into it. It is safe for concurrent use.
type TileCache interface {
	// Tile returns the tile stored under path (a C2SP tlog-tiles path such
	// as "tile/0/x001/234.p/5"), or ErrNotFound.
	Tile(ctx context.Context, path string) ([]byte, error)
	// PutTile stores a verified tile. Storing the same path twice with the
	// same data is not an error.
	PutTile(ctx context.Context, path string, data []byte) error
}

package server

import (
	"context"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// tileCacheSize bounds the expanded tiles kept between lookups: 4096
// tiles of at most 511 hashes, about 64 MiB at worst, enough for every
// level-0 tile of a log of a million entries.
const tileCacheSize = 4096

// tileKey names one tile as a tree of a given size sees it. A partial tile
// of width W never changes either (a wider one is another key), so every
// key names immutable content.
type tileKey struct {
	level, index uint64
	width        uint8 // 0 for a full tile
}

// expandedTile is a hash tile with every node of its 8-level subtree
// computed: levels[0] are the tile's hashes, levels[k][i] the node k levels
// above them. Only nodes whose whole subtree is in the tile exist.
type expandedTile struct {
	levels [][][]byte
}

func expand(hashes [][]byte) *expandedTile {
	t := &expandedTile{levels: [][][]byte{hashes}}
	for row := hashes; len(row) > 1; {
		next := make([][]byte, len(row)/2)
		for i := range next {
			next[i] = rfc6962.DefaultHasher.HashChildren(row[2*i], row[2*i+1])
		}
		t.levels = append(t.levels, next)
		row = next
	}
	return t
}

// proofBuilder builds RFC 6962 inclusion proofs for one tree size from the
// log's tiles. Tessera's client.ProofBuilder does the same but rehashes a
// tile's inner nodes for every proof; this one expands each tile once and
// keeps it for later lookups, which makes a lookup of many entries several
// times cheaper. TestProofsMatchTessera checks that the two agree.
type proofBuilder struct {
	size  uint64
	read  func(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	cache *lru.Cache[tileKey, *expandedTile]
}

func newTileCache() *lru.Cache[tileKey, *expandedTile] {
	c, err := lru.New[tileKey, *expandedTile](tileCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
}

// inclusion returns the inclusion proof of leaf index in the tree of
// pb.size.
func (pb *proofBuilder) inclusion(ctx context.Context, index uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, pb.size)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if hashes[i], err = pb.node(ctx, uint64(id.Level), id.Index); err != nil {
			return nil, err
		}
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// node returns the hash of the complete subtree at (level, index).
func (pb *proofBuilder) node(ctx context.Context, level, index uint64) ([]byte, error) {
	tl, ti, nl, ni := layout.NodeCoordsToTileAddress(level, index)
	t, err := pb.tile(ctx, tl, ti)
	if err != nil {
		return nil, err
	}
	if int(nl) >= len(t.levels) || ni >= uint64(len(t.levels[nl])) {
		return nil, fmt.Errorf("node %d/%d is not in tile %d/%d of a tree of size %d", level, index, tl, ti, pb.size)
	}
	return t.levels[nl][ni], nil
}

func (pb *proofBuilder) tile(ctx context.Context, level, index uint64) (*expandedTile, error) {
	w := layout.PartialTileSize(level, index, pb.size)
	k := tileKey{level, index, w}
	if t, ok := pb.cache.Get(k); ok {
		return t, nil
	}
	raw, err := pb.read(ctx, level, index, w)
	if err != nil {
		return nil, fmt.Errorf("reading tile %d/%d: %w", level, index, err)
	}
	var ht api.HashTile
	if err := ht.UnmarshalText(raw); err != nil {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, err)
	}
	want := int(w)
	if w == 0 {
		want = layout.TileWidth
	}
	// The reader falls back to the full tile when a partial one has been
	// garbage-collected; the first w hashes are the same.
	if len(ht.Nodes) < want {
		return nil, fmt.Errorf("tile %d/%d has %d hashes, want %d", level, index, len(ht.Nodes), want)
	}
	t := expand(ht.Nodes[:want])
	pb.cache.Add(k, t)
	return t, nil
}

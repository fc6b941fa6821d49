package server

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/client"

	"github.com/sigilproxy/sigil/release"
)

// TestProofsMatchTessera checks the lookup's proof builder against
// Tessera's client.ProofBuilder, for every size the log went through and
// leaves at the edges and at random, with one cache shared by all sizes.
func TestProofsMatchTessera(t *testing.T) {
	tl := newTestLog(t, nil)
	ctx := context.Background()
	vendor := newKey(t, "acme")
	tl.add(keyEvent(t, release.Composer, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	// Grow the log in steps and keep the size of each published
	// checkpoint: the tiles of exactly those sizes exist (tlog-tiles
	// clients must not ask for others).
	sizes := []uint64{1}
	next := 0
	for _, n := range []int{1, 1, 253, 1, 1, 254, 200, 100} {
		var wg sync.WaitGroup
		for range n {
			msg := statement(t, release.Composer, "acme/foo", "v1.0."+strconv.Itoa(next), byte(next), vendor.signer)
			next++
			wg.Go(func() {
				if _, err := tl.srv.Add(ctx, msg); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		cp, err := tl.srv.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var c f_log.Checkpoint
		if _, err := c.Unmarshal(cp); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, c.Size)
	}

	cache := newTileCache()
	for _, sz := range sizes {
		ours := &proofBuilder{size: sz, read: tl.srv.reader.ReadTile, cache: cache}
		theirs, err := client.NewProofBuilder(ctx, sz, tl.srv.reader.ReadTile)
		if err != nil {
			t.Fatal(err)
		}
		idxs := []uint64{0, sz - 1, sz / 2}
		for range 20 {
			idxs = append(idxs, rand.Uint64N(sz))
		}
		for _, i := range idxs {
			a, err := ours.inclusion(ctx, i)
			if err != nil {
				t.Fatalf("size %d index %d: %v", sz, i, err)
			}
			b, err := theirs.InclusionProof(ctx, i)
			if err != nil {
				t.Fatalf("size %d index %d: tessera: %v", sz, i, err)
			}
			if !slices.EqualFunc(a, b, slices.Equal) {
				t.Fatalf("size %d index %d: proofs differ", sz, i)
			}
		}
	}
	t.Logf("checked sizes %v", sizes)
}

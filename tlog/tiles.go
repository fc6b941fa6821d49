package tlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/transparency-dev/tessera/api/layout"
	sumtlog "golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/errgroup"
)

// tileHeight is fixed by C2SP tlog-tiles: 256 hashes per tile.
const tileHeight = 8

const fullTileBytes = (1 << tileHeight) * sumtlog.HashSize

// errTileNotFound is what a tile fetch returns for a 404, so that a
// partial tile can fall back to the full one.
var errTileNotFound = errors.New("tile not found")

// tilePath is the C2SP tlog-tiles path of t. sumdb's tiles have the same
// geometry and hashes; only the path drops sumdb's height element.
func tilePath(t sumtlog.Tile) string {
	var p uint8 // 0: full tile
	if t.W < 1<<tileHeight {
		p = uint8(t.W)
	}
	return layout.TilePath(uint64(t.L), uint64(t.N), p)
}

// tileReader serves the tiles of one consistency check to
// sumtlog.TileHashReader, which authenticates every tile it reads against
// the tree's root before it calls SaveTiles. Authenticated tiles are only
// collected: flush writes them to the TileCache once the caller has proven
// the checkpoint itself trustworthy. Not reused across checks.
type tileReader struct {
	ctx      context.Context
	c        *Client
	useCache bool

	mu        sync.Mutex
	read      map[sumtlog.Tile][]byte // this check's reads, suspect or not
	fromCache map[sumtlog.Tile]bool
	fetched   []string // paths fetched from the log, for error messages
	verified  map[sumtlog.Tile][]byte
}

func (c *Client) newTileReader(ctx context.Context, useCache bool) *tileReader {
	return &tileReader{
		ctx:       ctx,
		c:         c,
		useCache:  useCache && c.tiles != nil,
		read:      make(map[sumtlog.Tile][]byte),
		fromCache: make(map[sumtlog.Tile]bool),
		verified:  make(map[sumtlog.Tile][]byte),
	}
}

func (r *tileReader) Height() int { return tileHeight }

// ReadTiles returns the data of each tile, from the cache or the log, in
// parallel.
func (r *tileReader) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	g, ctx := errgroup.WithContext(r.ctx)
	g.SetLimit(8)
	for i, t := range tiles {
		g.Go(func() error {
			d, err := r.readTile(ctx, t)
			data[i] = d
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return data, nil
}

func (r *tileReader) readTile(ctx context.Context, t sumtlog.Tile) ([]byte, error) {
	r.mu.Lock()
	d, ok := r.read[t]
	r.mu.Unlock()
	if ok {
		return d, nil
	}
	d, cached, err := r.load(ctx, t)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read[t] = d
	if cached {
		r.fromCache[t] = true
	} else {
		r.fetched = append(r.fetched, tilePath(t))
	}
	return d, nil
}

// load gets t from the cache (the tile itself, or the full tile, whose
// prefix is as proven as the whole), else from the log (the partial tile,
// or if the log has completed it since, the full tile's prefix, as
// tlog-tiles lets logs delete partial tiles).
func (r *tileReader) load(ctx context.Context, t sumtlog.Tile) (data []byte, cached bool, err error) {
	want := t.W * sumtlog.HashSize
	full := t
	full.W = 1 << tileHeight
	if r.useCache {
		candidates := []sumtlog.Tile{t}
		if t != full {
			candidates = append(candidates, full)
		}
		for _, ct := range candidates {
			d, err := r.c.tiles.Tile(ctx, tilePath(ct))
			switch {
			case err == nil && len(d) == ct.W*sumtlog.HashSize:
				return d[:want:want], true, nil
			case err == nil:
				r.c.log.Warn("cached tile has the wrong size; fetching it again", "tile", tilePath(ct), "bytes", len(d))
			case !errors.Is(err, ErrNotFound):
				r.c.log.Warn("tile cache", "tile", tilePath(ct), "err", err)
			}
		}
	}
	d, err := r.c.fetchTile(ctx, t)
	if errors.Is(err, errTileNotFound) && t != full {
		var ferr error
		d, ferr = r.c.fetchTile(ctx, full)
		switch {
		case ferr == nil:
			err = nil
		case errors.Is(ferr, errTileNotFound):
			err = fmt.Errorf("%w, nor is the full tile", err)
		default:
			err = ferr
		}
	}
	if err != nil {
		return nil, false, err
	}
	return d[:want:want], false, nil
}

// SaveTiles is called with tiles that hash to the tree's root.
func (r *tileReader) SaveTiles(tiles []sumtlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		if !r.fromCache[t] {
			r.verified[t] = data[i]
		}
	}
}

// usedCache reports whether any tile of this check came from the cache.
func (r *tileReader) usedCache() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.fromCache) > 0
}

func (r *tileReader) fetchedPaths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := slices.Clone(r.fetched)
	slices.Sort(p)
	return p
}

// flush writes the authenticated tiles to the cache. A failing cache only
// costs a later fetch, so it is logged, not returned.
func (r *tileReader) flush(ctx context.Context) {
	if r.c.tiles == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, d := range r.verified {
		if err := r.c.tiles.PutTile(ctx, tilePath(t), d); err != nil {
			r.c.log.Warn("caching verified tile", "tile", tilePath(t), "err", err)
		}
	}
	clear(r.verified)
}

// fetchTile GETs one tile from the log and checks its length; its content
// is checked by the caller.
func (c *Client) fetchTile(ctx context.Context, t sumtlog.Tile) ([]byte, error) {
	u := c.base.JoinPath(tilePath(t)).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching tile: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("GET %s: %w", u, errTileNotFound)
	default:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	d, err := io.ReadAll(io.LimitReader(resp.Body, fullTileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if want := t.W * sumtlog.HashSize; len(d) != want {
		return nil, fmt.Errorf("GET %s: tile is %d bytes, want %d", u, len(d), want)
	}
	return d, nil
}

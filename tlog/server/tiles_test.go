package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sigilproxy/sigil/release"
	sigiltlog "github.com/sigilproxy/sigil/tlog"
)

// fillLog adds a vendor key for composer "acme" and n statements of
// acme/foo (versions v1.0.0 ... ), concurrently, in-process.
func fillLog(t testing.TB, tl *testLog, n int) key {
	t.Helper()
	vendor := newKey(t, "acme")
	tl.add(keyEvent(t, release.Composer, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		msg := statement(t, release.Composer, "acme/foo", "v1.0."+strconv.Itoa(i), byte(i), vendor.signer)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := tl.srv.Add(context.Background(), msg); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return vendor
}

// httpTiles is a tile reader of golang.org/x/mod/sumdb/tlog over the
// log's HTTP interface: an independent tlog-tiles client. x/mod names tiles
// tile/8/L/N; C2SP tlog-tiles, with a fixed height of 8, tile/L/N.
type httpTiles struct {
	t    testing.TB
	base string
}

func (r *httpTiles) Height() int { return 8 }

func (r *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		data, err := r.get(c2spPath(tile))
		if errors.Is(err, errNotFound) && tile.W < 256 {
			// The partial tile may be gone once the full one exists.
			full := tile
			full.W = 256
			data, err = r.get(c2spPath(full))
			if err == nil && len(data) >= tile.W*32 {
				data = data[:tile.W*32]
			}
		}
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// c2spPath maps an x/mod tile path (tile/8/L/N, tile/8/data/N) to its
// C2SP tlog-tiles path (tile/L/N, tile/entries/N).
func c2spPath(t tlog.Tile) string {
	p := "tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
	if rest, ok := strings.CutPrefix(p, "tile/data/"); ok {
		return "tile/entries/" + rest
	}
	return p
}

func (r *httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

var errNotFound = errors.New("not found")

func (r *httpTiles) get(path string) ([]byte, error) {
	resp, err := http.Get(r.base + "/" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s: %w", path, errNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", path, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		return nil, fmt.Errorf("%s: Content-Type %q", path, ct)
	}
	return io.ReadAll(resp.Body)
}

// TestIndependentReader checks the log with golang.org/x/mod/sumdb: the
// checkpoint verifies with the log key, the tiles verify against it, and
// the root recomputed from the entry bundles alone equals it. Every
// lookup proof verifies with transparency-dev/merkle.
func TestIndependentReader(t *testing.T) {
	tl := newTestLog(t, nil)
	const n = 300 // a full tile, a partial one, a partial level-1 tile
	fillLog(t, tl, n)

	r := &httpTiles{t: t, base: tl.http.URL}
	cpRaw, err := r.getCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(tl.srv.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	nt, err := note.Open(cpRaw, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify with the log key: %v", err)
	}
	var cp f_log.Checkpoint
	if _, err := cp.Unmarshal([]byte(nt.Text)); err != nil {
		t.Fatal(err)
	}
	if cp.Origin != "log.example/test" || cp.Size != n+1 {
		t.Fatalf("checkpoint %q, size %d; want log.example/test, %d", cp.Origin, cp.Size, n+1)
	}
	var root tlog.Hash
	copy(root[:], cp.Hash)
	tree := tlog.Tree{N: int64(cp.Size), Hash: root}

	// The tiles verify against the checkpoint (TileHashReader checks every
	// tile it reads against the tree hash).
	thr := tlog.TileHashReader(tree, r)
	if h, err := tlog.TreeHash(tree.N, thr); err != nil || h != root {
		t.Fatalf("TreeHash from tiles = %v, %v; want %v", h, err, root)
	}

	// Recompute the root from the entry bundles alone.
	var stored []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	var entries [][]byte
	for b := int64(0); b*256 < tree.N; b++ {
		tile := tlog.Tile{H: 8, L: -1, N: b, W: int(min(256, tree.N-b*256))}
		data, err := r.ReadTiles([]tlog.Tile{tile})
		if err != nil {
			t.Fatalf("entry bundle %d: %v", b, err)
		}
		es, err := splitBundle(data[0])
		if err != nil {
			t.Fatalf("entry bundle %d: %v", b, err)
		}
		if len(es) < tile.W {
			t.Fatalf("entry bundle %d has %d entries; want %d", b, len(es), tile.W)
		}
		entries = append(entries, es[:tile.W]...)
	}
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, hr)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	if h, err := tlog.TreeHash(tree.N, hr); err != nil || h != root {
		t.Fatalf("root from entry bundles = %v, %v; want %v", h, err, root)
	}

	// The lookup's proofs verify against the checkpoint it returns.
	lk := tl.lookup(release.Composer, "acme/foo")
	if len(lk.Entries) != n+1 {
		t.Fatalf("lookup has %d entries; want %d", len(lk.Entries), n+1)
	}
	verifyLookup(t, lk, v)
}

// verifyLookup checks a lookup response with transparency-dev/merkle.
func verifyLookup(t testing.TB, lk *sigiltlog.LookupResponse, v note.Verifier) {
	t.Helper()
	cp, _, _, err := f_log.ParseCheckpoint([]byte(lk.Checkpoint), v.Name(), v)
	if err != nil {
		t.Fatalf("lookup checkpoint: %v", err)
	}
	for i, e := range lk.Entries {
		if i > 0 && e.Index <= lk.Entries[i-1].Index {
			t.Errorf("entries not in ascending index order at %d", i)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf([]byte(e.Note))
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Index, cp.Size, leaf, e.Proof, cp.Hash); err != nil {
			t.Fatalf("entry %d: inclusion proof: %v", e.Index, err)
		}
	}
}

func (r *httpTiles) getCheckpoint() ([]byte, error) {
	resp, err := http.Get(r.base + "/checkpoint")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		return nil, fmt.Errorf("checkpoint Content-Type %q", ct)
	}
	return io.ReadAll(resp.Body)
}

// splitBundle parses a tlog-tiles entry bundle: big-endian uint16
// length-prefixed entries.
func splitBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("dangling length byte")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, errors.New("truncated entry")
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out, nil
}

func TestStaticPaths(t *testing.T) {
	tl := newTestLog(t, nil)
	fillLog(t, tl, 3)
	base := tl.http.URL

	get := func(method, path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		path, ctype, cache string
	}{
		{"/checkpoint", "text/plain; charset=utf-8", "no-cache"},
		{"/tile/0/000.p/4", "application/octet-stream", "immutable"},
		{"/tile/entries/000.p/4", "application/octet-stream", "immutable"},
	} {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			resp := get(m, tc.path)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.ctype ||
				!strings.Contains(resp.Header.Get("Cache-Control"), tc.cache) {
				t.Errorf("%s %s = %d, %q, %q; want 200, %q, %q", m, tc.path, resp.StatusCode,
					resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), tc.ctype, tc.cache)
			}
		}
	}
	if resp := get(http.MethodGet, "/tile/entries/000.p/4", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("entry bundle not gzip-compressed for a client that accepts it")
	}

	for _, p := range []string{
		"/", "/tile/", "/tile/0/", "/tile/entries/", "/tile/0/000.p", "/tile/0/000.p/",
		"/.state/treeState", "/.sigil-index/MANIFEST", "/tile/../.state/treeState",
		"/tile/0/../../.state/treeState", "/tile/0/%2e%2e/%2e%2e/.state/treeState",
		"/tile/00/000.p/4", "/tile/64/000", "/tile/0/0.p/4", "/tile/0/x000/000.p/4",
		"/tile/0/000.p/04", "/tile/0/000.p/256", "/tile/0/000.p/0", "/tile/0/000.p/4x",
		"/tile/0/000.p/5", "/tile/1/000", "/tile/data/000.p/4", "/checkpoint/",
		"/tile/entries/000.p/4/", "/tile/-1/000",
	} {
		switch resp := get(http.MethodGet, p); resp.StatusCode {
		case http.StatusNotFound:
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect:
			// ServeMux cleans paths with dot segments by redirecting to
			// the clean path, which is then checked like any other.
			if loc := resp.Header.Get("Location"); strings.Contains(loc, "..") {
				t.Errorf("GET %s redirects to %q", p, loc)
			}
		default:
			t.Errorf("GET %s = %d; want 404", p, resp.StatusCode)
		}
	}
	if resp := get(http.MethodPost, "/checkpoint"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /checkpoint = %d; want 405", resp.StatusCode)
	}
}

func TestCanonicalTilePath(t *testing.T) {
	for p, want := range map[string]bool{
		"tile/0/000":             true,
		"tile/0/x001/234":        true,
		"tile/63/x001/x234/067":  true,
		"tile/entries/000.p/1":   true,
		"tile/entries/000.p/255": true,
		"tile/0/x000/001":        false,
		"tile/0/1":               false,
		"tile/0/0001":            false,
		"tile/01/000":            false,
		"tile/+1/000":            false,
		"tile/0/000.p/256":       false,
		"tile/0/000.p/00":        false,
		"tile/0/000.p":           false,
		"tile/0/x001":            false,
		"tile/0/x001/234/":       false,
		"tile/0/../000":          false,
		"tile/entries":           false,
		"tiles/0/000":            false,
	} {
		if _, _, ok := canonicalTilePath(p); ok != want {
			t.Errorf("canonicalTilePath(%q) = %v; want %v", p, ok, want)
		}
	}
}

func FuzzCanonicalTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/entries/x001/234.p/7", "tile/0/../x", "tile/63/x999/999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, _, ok := canonicalTilePath(p)
		if !ok {
			return
		}
		if got != p || strings.Contains(p, "..") || strings.Contains(p, "//") || strings.HasSuffix(p, "/") {
			t.Fatalf("accepted %q as %q", p, got)
		}
		if _, err := tlog.ParseTilePath(strings.Replace(strings.Replace(p, "tile/entries/", "tile/data/", 1), "tile/", "tile/8/", 1)); err != nil {
			t.Fatalf("accepted %q, which x/mod cannot parse: %v", p, err)
		}
	})
}

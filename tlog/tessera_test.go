package tlog_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/tlog"
)

// TestTesseraLog runs the client against a log written by Tessera's POSIX
// storage, served as static files: the tiles, partial tiles and
// checkpoints our server publishes, read by our client.
func TestTesseraLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	skey, vkey, err := note.GenerateKey(rand.Reader, "tessera.example/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(100*time.Millisecond).
		WithBatching(512, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	awaiter := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 10*time.Millisecond)

	var mu sync.Mutex
	var mine []uint64 // indexes of composer acme/foo
	add := func(n int, ours bool) {
		t.Helper()
		futures := make([]tessera.IndexFuture, n)
		for i := range futures {
			futures[i] = appender.Add(ctx, tessera.NewEntry(fmt.Appendf(nil, "entry %d %v %d\n", i, ours, time.Now().UnixNano())))
		}
		for _, f := range futures {
			idx, _, err := awaiter.Await(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if ours {
				mu.Lock()
				mine = append(mine, idx.Index)
				mu.Unlock()
			}
		}
	}

	w := newTestWitness(t, "witness.example")
	lookup := func(rw http.ResponseWriter, r *http.Request) {
		raw, err := reader.ReadCheckpoint(r.Context())
		if err != nil {
			http.Error(rw, err.Error(), 500)
			return
		}
		// The witness cosigns what the log published.
		n, err := note.Open(raw, note.VerifierList(verifier))
		if err != nil {
			http.Error(rw, err.Error(), 500)
			return
		}
		cosigned, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, w.at(time.Now()))
		if err != nil {
			http.Error(rw, err.Error(), 500)
			return
		}
		size := checkpointSize(t, n.Text)
		pb, err := client.NewProofBuilder(r.Context(), size, reader.ReadTile)
		if err != nil {
			http.Error(rw, err.Error(), 500)
			return
		}
		resp := tlog.LookupResponse{Checkpoint: string(cosigned), Entries: []tlog.LookupEntry{}}
		mu.Lock()
		idx := slices.Sorted(slices.Values(mine))
		mu.Unlock()
		for _, i := range idx {
			if i >= size {
				continue
			}
			p, err := pb.InclusionProof(r.Context(), i)
			if err != nil {
				http.Error(rw, err.Error(), 500)
				return
			}
			bundle, err := client.GetEntryBundle(r.Context(), reader.ReadEntryBundle, i/256, size)
			if err != nil {
				http.Error(rw, err.Error(), 500)
				return
			}
			resp.Entries = append(resp.Entries, tlog.LookupEntry{Index: i, Note: string(bundle.Entries[i%256]), Proof: p})
		}
		json.NewEncoder(rw).Encode(resp)
	}
	var tileGets sync.Map
	mux := http.NewServeMux()
	mux.HandleFunc("/lookup/", lookup)
	files := http.FileServer(http.Dir(dir))
	mux.HandleFunc("/tile/", func(rw http.ResponseWriter, r *http.Request) {
		tileGets.Store(r.URL.Path, true)
		files.ServeHTTP(rw, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	store, tiles := newStores()
	c, err := tlog.NewClient(tlog.Config{URL: srv.URL + "/", LogKey: vkey, Witnesses: []string{w.vkey},
		Store: store, Tiles: tiles, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	check := func(wantEntries int) {
		t.Helper()
		lk, err := c.Lookup(ctx, "composer", "acme/foo")
		if err != nil {
			t.Fatal(err)
		}
		if len(lk.Entries) != wantEntries || !strings.HasPrefix(string(lk.Entries[0].Note), "entry ") {
			t.Fatalf("%d entries, want %d", len(lk.Entries), wantEntries)
		}
		if got, want := storedSize(t, store), lk.Checkpoint.Size; got != want {
			t.Fatalf("stored size %d, lookup at %d", got, want)
		}
	}

	add(3, true)
	add(4, false)
	check(3)
	add(300, false) // completes tile 0/000; Tessera keeps no partial of it
	add(2, true)
	check(5)
	if len(tiles.Paths()) == 0 {
		t.Fatal("no verified tile was cached")
	}
	add(600, false)
	add(1, true)
	check(6)
	var got []string
	tileGets.Range(func(k, _ any) bool { got = append(got, k.(string)); return true })
	slices.Sort(got)
	t.Logf("tiles fetched from Tessera's files: %v; cached: %v", got, tiles.Paths())
	if _, err := os.Stat(filepath.Join(dir, "tile", "0", "000")); err != nil {
		t.Fatalf("Tessera wrote no full tile: %v", err)
	}
}

func checkpointSize(t *testing.T, text string) uint64 {
	var size uint64
	lines := strings.Split(text, "\n")
	if len(lines) < 3 {
		t.Fatalf("checkpoint %q", text)
	}
	if _, err := fmt.Sscan(lines[1], &size); err != nil {
		t.Fatal(err)
	}
	return size
}

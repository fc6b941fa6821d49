package tlog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

// testLog is an in-memory tlog-tiles log with fresh keys, served on
// 127.0.0.1: /checkpoint, /tile/... and /lookup/... as the real server
// serves them. Its tiles and proofs come from golang.org/x/mod/sumdb/tlog,
// an implementation independent of the client's verifier (transparency-dev
// merkle), so agreement between the two is itself a check. Tests steer what
// it serves through view, to play a misbehaving log.
type testLog struct {
	t      testing.TB
	origin string
	signer note.Signer
	vkey   string
	wits   []*testWitness
	srv    *httptest.Server

	mu     sync.Mutex
	leaves [][]byte
	hashes []sumtlog.Hash
	keys   map[string][]int64 // lookup path ("composer/acme/foo") → indexes
	forks  int                // how often the log forked, to make new entries differ
	view   view
}

// view is what the log serves; its zero value is honest.
type view struct {
	size      int64               // serve this size, 0: all entries
	witnesses []int               // which witnesses cosign, nil: all
	cosignAt  time.Time           // cosignature time, zero: now
	origin    string              // origin line, "": the log's
	signer    note.Signer         // checkpoint signer, nil: the log's
	extraSig  bool                // append an unknown signature
	badProof  bool                // corrupt the first entry's inclusion proof
	tiles     map[string][]byte   // tampered tiles
	checkpt   func([]byte) []byte // rewrites the signed checkpoint
}

func newTestLog(t testing.TB, witnesses int) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "log.example/sigil")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{t: t, origin: "log.example/sigil", signer: signer, vkey: vkey, keys: map[string][]int64{}}
	for i := range witnesses {
		l.wits = append(l.wits, newTestWitness(t, fmt.Sprintf("witness%d.example", i)))
	}
	l.srv = httptest.NewServer(l)
	t.Cleanup(l.srv.Close)
	return l
}

// add logs data under the lookup keys ("composer/acme/foo") and returns
// its index.
func (l *testLog) add(data []byte, keys ...string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(len(l.leaves))
	h, err := sumtlog.StoredHashes(n, data, l.hashReader())
	if err != nil {
		l.t.Fatal(err)
	}
	l.leaves = append(l.leaves, data)
	l.hashes = append(l.hashes, h...)
	for _, k := range keys {
		l.keys[k] = append(l.keys[k], n)
	}
	return n
}

// addN logs n distinct notes under key.
func (l *testLog) addN(n int, key string) {
	for range n {
		l.mu.Lock()
		data := fmt.Appendf(nil, "entry %d of %s\n", len(l.leaves), key)
		if l.forks > 0 {
			data = fmt.Appendf(data, "fork %d\n", l.forks)
		}
		l.mu.Unlock()
		l.add(data, key)
	}
}

// fork makes the log forget everything from index keep on, as a log that
// was rolled back or forked would; what is added next differs from before.
func (l *testLog) fork(keep int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forks++
	l.leaves = l.leaves[:keep]
	l.hashes = l.hashes[:sumtlog.StoredHashCount(keep)]
	for k, idx := range l.keys {
		l.keys[k] = slices.DeleteFunc(idx, func(i int64) bool { return i >= keep })
	}
}

func (l *testLog) size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.leaves))
}

func (l *testLog) setView(v view) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.view = v
}

func (l *testLog) hashReader() sumtlog.HashReader {
	return sumtlog.HashReaderFunc(func(idx []int64) ([]sumtlog.Hash, error) {
		out := make([]sumtlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(l.hashes)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = l.hashes[x]
		}
		return out, nil
	})
}

// servedSize is the size of the tree the log currently shows. l.mu held.
func (l *testLog) servedSize() int64 {
	if l.view.size > 0 {
		return l.view.size
	}
	return int64(len(l.leaves))
}

// checkpoint signs the checkpoint of size n as the view says. l.mu held.
func (l *testLog) checkpoint(n int64) []byte {
	root, err := sumtlog.TreeHash(n, l.hashReader())
	if err != nil {
		l.t.Fatal(err)
	}
	origin := l.origin
	if l.view.origin != "" {
		origin = l.view.origin
	}
	text := flog.Checkpoint{Origin: origin, Size: uint64(n), Hash: root[:]}.Marshal()
	signers := []note.Signer{l.signer}
	if l.view.signer != nil {
		signers[0] = l.view.signer
	}
	at := l.view.cosignAt
	if at.IsZero() {
		at = time.Now()
	}
	for i, w := range l.wits {
		if l.view.witnesses == nil || slices.Contains(l.view.witnesses, i) {
			signers = append(signers, w.at(at))
		}
	}
	if l.view.extraSig {
		s := newTestWitness(l.t, "stranger.example")
		signers = append(signers, s.at(at))
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, signers...)
	if err != nil {
		l.t.Fatal(err)
	}
	if l.view.checkpt != nil {
		msg = l.view.checkpt(msg)
	}
	return msg
}

func (l *testLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case p == "checkpoint":
		w.Write(l.checkpoint(l.servedSize()))
	case strings.HasPrefix(p, "tile/"):
		l.serveTile(w, p)
	case strings.HasPrefix(p, "lookup/"):
		l.serveLookup(w, strings.TrimPrefix(p, "lookup/"))
	default:
		http.NotFound(w, r)
	}
}

// serveTile serves the tiles of the current tree. Like a tlog-tiles log
// that deletes partial tiles once the full tile exists, it answers 404 for
// a partial tile that has been completed.
func (l *testLog) serveTile(w http.ResponseWriter, p string) {
	if d, ok := l.view.tiles[p]; ok {
		w.Write(d)
		return
	}
	t, err := sumtlog.ParseTilePath("tile/8/" + strings.TrimPrefix(p, "tile/"))
	if err != nil || t.L < 0 {
		http.NotFound(w, nil)
		return
	}
	n := int64(len(l.leaves))
	avail := (n >> (8 * t.L)) - t.N<<8
	if avail < int64(t.W) || t.W < 256 && avail >= 256 {
		http.NotFound(w, nil)
		return
	}
	d, err := sumtlog.ReadTileData(t, l.hashReader())
	if err != nil {
		l.t.Error(err)
		http.Error(w, err.Error(), 500)
		return
	}
	w.Write(d)
}

func (l *testLog) serveLookup(w http.ResponseWriter, key string) {
	n := l.servedSize()
	resp := tlog.LookupResponse{Checkpoint: string(l.checkpoint(n)), Entries: []tlog.LookupEntry{}}
	idx := slices.Clone(l.keys[key])
	slices.Sort(idx)
	for _, i := range slices.Compact(idx) {
		if i >= n {
			continue
		}
		rp, err := sumtlog.ProveRecord(n, i, l.hashReader())
		if err != nil {
			l.t.Fatal(err)
		}
		proof := make([][]byte, len(rp))
		for j := range rp {
			proof[j] = rp[j][:]
		}
		resp.Entries = append(resp.Entries, tlog.LookupEntry{Index: uint64(i), Note: string(l.leaves[i]), Proof: proof})
	}
	if l.view.badProof && len(resp.Entries) > 0 && len(resp.Entries[0].Proof) > 0 {
		resp.Entries[0].Proof[0][0] ^= 1
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// testWitness cosigns checkpoints (C2SP tlog-cosignature, cosignature/v1,
// Ed25519) at a chosen time. Written here from the spec rather than taken
// from the formats package the client verifies with.
type testWitness struct {
	name string
	key  ed25519.PrivateKey
	hash uint32
	vkey string // cosignature/v1 verifier key (algorithm 0x04)
	// plain is the same key as a plain Ed25519 note verifier key.
	plain string
}

func newTestWitness(t testing.TB, name string) *testWitness {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyBytes := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), keyBytes...))
	w := &testWitness{name: name, key: priv, hash: binary.BigEndian.Uint32(h[:])}
	w.vkey = fmt.Sprintf("%s+%08x+%s", name, w.hash, base64.StdEncoding.EncodeToString(keyBytes))
	if w.plain, err = note.NewEd25519VerifierKey(name, pub); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *testWitness) at(t time.Time) note.Signer { return cosigner{w, t} }

type cosigner struct {
	w  *testWitness
	at time.Time
}

func (c cosigner) Name() string    { return c.w.name }
func (c cosigner) KeyHash() uint32 { return c.w.hash }
func (c cosigner) Sign(msg []byte) ([]byte, error) {
	ts := uint64(c.at.Unix())
	signed := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", ts, msg)
	return append(binary.BigEndian.AppendUint64(nil, ts), ed25519.Sign(c.w.key, signed)...), nil
}

// witnessKeys returns the cosignature/v1 keys of the log's witnesses.
func (l *testLog) witnessKeys() []string {
	var k []string
	for _, w := range l.wits {
		k = append(k, w.vkey)
	}
	return k
}

// config is a client configuration for l that requires every witness.
func (l *testLog) config(t testing.TB, store tlog.CheckpointStore, tiles tlog.TileCache) tlog.Config {
	return tlog.Config{
		URL:       l.srv.URL,
		LogKey:    l.vkey,
		Witnesses: l.witnessKeys(),
		Store:     store,
		Tiles:     tiles,
		Logger:    testLogger(t),
	}
}

func (l *testLog) client(t testing.TB, store tlog.CheckpointStore, tiles tlog.TileCache) *tlog.Client {
	t.Helper()
	c, err := tlog.NewClient(l.config(t, store, tiles))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// storedSize returns the size of the stored checkpoint, 0 if none.
func storedSize(t testing.TB, s tlog.CheckpointStore) uint64 {
	t.Helper()
	raw, err := s.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if raw == nil {
		return 0
	}
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

func newStores() (*tlogtest.Store, *tlogtest.Tiles) { return new(tlogtest.Store), new(tlogtest.Tiles) }

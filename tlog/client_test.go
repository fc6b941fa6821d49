package tlog_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

var ctx = context.Background()

const pkgKey = "composer/acme/foo"

func TestLookupVerifiesAndMovesForward(t *testing.T) {
	l := newTestLog(t, 2)
	l.addN(3, pkgKey)
	l.addN(2, "composer/other/bar")
	store, tiles := newStores()
	c := l.client(t, store, tiles)

	lk, err := c.Lookup(ctx, "composer", "acme/foo")
	if err != nil {
		t.Fatal(err)
	}
	if len(lk.Entries) != 3 || lk.Entries[2].Index != 2 || !bytes.HasPrefix(lk.Entries[0].Note, []byte("entry 0 of composer/acme/foo")) {
		t.Fatalf("entries = %+v", lk.Entries)
	}
	if lk.Checkpoint.Size != 5 || len(lk.Checkpoint.Cosignatures) != 2 {
		t.Fatalf("checkpoint = %v with %d cosignatures", lk.Checkpoint, len(lk.Checkpoint.Cosignatures))
	}
	if got := storedSize(t, store); got != 5 {
		t.Fatalf("stored size %d, want 5", got)
	}
	if n := tiles.Puts(); n != 0 {
		t.Fatalf("%d tiles cached before any consistency proof", n)
	}

	// Past a full tile, so that the proof needs tiles on two levels and the
	// partial tile the client asked for before has been replaced.
	l.addN(300, pkgKey)
	lk, err = c.Lookup(ctx, "composer", "acme/foo")
	if err != nil {
		t.Fatal(err)
	}
	if len(lk.Entries) != 303 || storedSize(t, store) != 305 {
		t.Fatalf("%d entries, stored size %d; want 303, 305", len(lk.Entries), storedSize(t, store))
	}
	if got := strings.Join(tiles.Paths(), " "); got != "tile/0/000 tile/0/001.p/49 tile/1/000.p/1" {
		t.Fatalf("cached tiles %s", got)
	}

	// Now the cache serves the full tile; the log only grows a partial one.
	l.addN(10, pkgKey)
	if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
		t.Fatal(err)
	}
	if storedSize(t, store) != 315 {
		t.Fatalf("stored size %d, want 315", storedSize(t, store))
	}

	// A package the log knows nothing about is an empty, verified answer.
	lk, err = c.Lookup(ctx, "npm", "@acme/none")
	if err != nil || len(lk.Entries) != 0 {
		t.Fatalf("lookup of an unknown package: %v, %v", lk, err)
	}
}

func TestForkSameSize(t *testing.T) {
	l := newTestLog(t, 1)
	l.addN(5, pkgKey)
	store, tiles := newStores()
	c := l.client(t, store, tiles)
	if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
		t.Fatal(err)
	}
	before, _ := store.Checkpoint(ctx)

	l.fork(4)
	l.add([]byte("another history\n"), pkgKey)
	_, err := c.Lookup(ctx, "composer", "acme/foo")
	se := wantSecurityError(t, err, "fork")
	if !bytes.Equal(se.Stored, before) || se.Smaller != 5 || se.Larger != 5 || len(se.Proof) != 0 {
		t.Fatalf("evidence: stored %q, sizes %d %d, %d proof hashes", se.Stored, se.Smaller, se.Larger, len(se.Proof))
	}
	if !strings.Contains(se.Error(), "two checkpoints of size 5 with different roots") {
		t.Fatalf("error text:\n%s", se)
	}
	wantHalted(t, l, store, tiles, c)

	// The operator's deliberate reset: the new history is trusted anew.
	store.Reset()
	c = l.client(t, store, tiles)
	if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
		t.Fatalf("after a reset: %v", err)
	}
}

func TestForkLarger(t *testing.T) {
	l := newTestLog(t, 1)
	l.addN(5, pkgKey)
	store, tiles := newStores()
	c := l.client(t, store, tiles)
	if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
		t.Fatal(err)
	}
	storedRoot := rootOf(t, store)

	l.fork(3)
	l.addN(5, pkgKey)
	_, err := c.Lookup(ctx, "composer", "acme/foo")
	se := wantSecurityError(t, err, "fork")
	t.Logf("the evidence an operator gets:\n%s", se)
	checkEvidence(t, se, storedRoot)
	if n := tiles.Puts(); n != 0 {
		t.Fatalf("%d tiles of the forked log were cached", n)
	}
	wantHalted(t, l, store, tiles, c)
}

// TestForkCachedTiles forks a log whose first full tile is in the cache:
// the cached tile does not fit the new root, and the client must still
// find the fork from the log's own tiles rather than blame a tile.
func TestForkCachedTiles(t *testing.T) {
	l := newTestLog(t, 1)
	l.addN(10, pkgKey)
	store, tiles := newStores()
	c := l.client(t, store, tiles)
	if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
		t.Fatal(err)
	}
	l.addN(290, pkgKey)
	if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(tiles.Paths(), " "), "tile/0/000 ") {
		t.Fatalf("cached tiles %v, want the full tile/0/000", tiles.Paths())
	}
	storedRoot := rootOf(t, store)

	l.fork(100)
	l.addN(300, pkgKey)
	_, err := c.Lookup(ctx, "composer", "acme/foo")
	se := wantSecurityError(t, err, "fork")
	checkEvidence(t, se, storedRoot)
}

func TestRollback(t *testing.T) {
	t.Run("OlderCheckpointOfTheSameHistory", func(t *testing.T) {
		l := newTestLog(t, 1)
		l.addN(8, pkgKey)
		store, tiles := newStores()
		c := l.client(t, store, tiles)
		if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
			t.Fatal(err)
		}
		// A lookup that raced a newer verification, or a cache in front of
		// the log: usable, as a proven prefix, but the stored checkpoint
		// does not move back.
		l.setView(view{size: 5})
		lk, err := c.Lookup(ctx, "composer", "acme/foo")
		if err != nil {
			t.Fatal(err)
		}
		if lk.Checkpoint.Size != 5 || len(lk.Entries) != 5 || storedSize(t, store) != 8 {
			t.Fatalf("lookup at size %d with %d entries, stored %d; want 5, 5, 8", lk.Checkpoint.Size, len(lk.Entries), storedSize(t, store))
		}
	})

	t.Run("OtherHistoryProvenFromCachedTiles", func(t *testing.T) {
		l := newTestLog(t, 1)
		l.addN(5, pkgKey)
		store, tiles := newStores()
		c := l.client(t, store, tiles)
		mustLookup(t, c)
		l.addN(3, pkgKey)
		mustLookup(t, c) // caches the tile of size 8
		storedRoot := rootOf(t, store)

		l.fork(3)
		l.addN(3, pkgKey)
		_, err := c.Lookup(ctx, "composer", "acme/foo")
		se := wantSecurityError(t, err, "rollback")
		if se.Smaller != 6 || se.Larger != 8 {
			t.Fatalf("sizes %d, %d; want 6, 8", se.Smaller, se.Larger)
		}
		// Here the larger tree is the stored one: the recomputed root of the
		// first 6 entries is ours, and the received checkpoint disagrees.
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 6, 8, se.Proof, se.SmallerRoot, storedRoot); err != nil {
			t.Fatalf("the proof in the evidence does not verify against the stored root: %v", err)
		}
		wantHalted(t, l, store, tiles, c)
	})

	t.Run("OtherHistoryNoTiles", func(t *testing.T) {
		l := newTestLog(t, 1)
		l.addN(8, pkgKey)
		store := newStoreOnly()
		c := l.client(t, store, nil)
		mustLookup(t, c)
		l.fork(3)
		l.addN(3, pkgKey)
		_, err := c.Lookup(ctx, "composer", "acme/foo")
		if err == nil || errors.Is(err, tlog.ErrSecurity) {
			t.Fatalf("rolled-back log without provable evidence: %v; want a refusal that is no SecurityError", err)
		}
		for _, want := range []string{"size 6 consistent with size 8", "tile/0/000.p/8"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q lacks %q", err, want)
			}
		}
		if storedSize(t, store) != 8 {
			t.Fatalf("stored size moved to %d", storedSize(t, store))
		}
	})
}

func TestTamperedTile(t *testing.T) {
	l := newTestLog(t, 1)
	l.addN(5, pkgKey)
	store, tiles := newStores()
	c := l.client(t, store, tiles)
	mustLookup(t, c)

	l.addN(3, pkgKey)
	good := fetch(t, l.srv.URL+"/tile/0/000.p/8")
	bad := bytes.Clone(good)
	bad[40] ^= 1
	l.setView(view{tiles: map[string][]byte{"tile/0/000.p/8": bad}})
	_, err := c.Lookup(ctx, "composer", "acme/foo")
	if err == nil || errors.Is(err, tlog.ErrSecurity) {
		t.Fatalf("tampered tile: %v; want an error that is no SecurityError", err)
	}
	for _, want := range []string{"tile/0/000.p/8", "downloaded inconsistent tile", "size 8"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q lacks %q", err, want)
		}
	}
	if n := tiles.Puts(); n != 0 || storedSize(t, store) != 5 {
		t.Fatalf("after a tampered tile: %d tiles cached, stored size %d", n, storedSize(t, store))
	}

	// Not fail-closed: once the log serves the right tile, lookups work.
	l.setView(view{})
	mustLookup(t, c)
	if storedSize(t, store) != 8 || tiles.Puts() == 0 {
		t.Fatalf("stored size %d, %d tiles cached", storedSize(t, store), tiles.Puts())
	}
}

func TestBadInclusionProof(t *testing.T) {
	l := newTestLog(t, 1)
	l.addN(2, "composer/other/bar")
	l.addN(4, pkgKey)
	store, tiles := newStores()
	c := l.client(t, store, tiles)
	l.setView(view{badProof: true})
	_, err := c.Lookup(ctx, "composer", "acme/foo")
	if err == nil || !strings.Contains(err.Error(), "entry 2: inclusion proof does not verify") {
		t.Fatalf("bad inclusion proof: %v", err)
	}
}

func TestCheckpointRefused(t *testing.T) {
	l := newTestLog(t, 3)
	l.addN(4, pkgKey)
	other := newTestLog(t, 0)
	for _, tc := range []struct {
		name string
		view view
		cfg  func(*tlog.Config)
		want []string
	}{
		{name: "LackingCosignatures", view: view{witnesses: []int{0}},
			want: []string{"1 of the required 3 witness cosignatures", "lacking: witness1.example+", "witness2.example+"}},
		{name: "NoCosignatures", view: view{witnesses: []int{}},
			want: []string{"0 of the required 3"}},
		{name: "LackingOfThreshold", view: view{witnesses: []int{2}}, cfg: func(c *tlog.Config) { c.WitnessThreshold = 2 },
			want: []string{"1 of the required 2"}},
		{name: "Stale", view: view{cosignAt: timeAgo(30)}, cfg: func(c *tlog.Config) { c.WitnessThreshold = 2 },
			want: []string{"stale checkpoint", "witness0.example+", "cosigned 30h0m", "older than the 24h0m0s allowed"}},
		{name: "StaleShorterAge", view: view{cosignAt: timeAgo(2)}, cfg: func(c *tlog.Config) { c.MaxCosignatureAge = time.Hour },
			want: []string{"stale checkpoint", "cosigned 2h0m"}},
		{name: "WrongOrigin", view: view{origin: "evil.example/log"},
			want: []string{`origin is "evil.example/log", want "log.example/sigil"`}},
		{name: "WrongLogKey", view: view{signer: other.signer},
			want: []string{"not signed by the log key log.example/sigil+", "signed by: log.example/sigil+"}},
		{name: "BadWitnessSignature", view: view{checkpt: corruptSig("witness1.example")},
			want: []string{"2 of the required 3", "invalid cosignatures from witness1.example+"}},
		{name: "Garbage", view: view{checkpt: func([]byte) []byte { return []byte("not a note") }},
			want: []string{"log signature: malformed note"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.setView(tc.view)
			defer l.setView(view{})
			store, tiles := newStores()
			cfg := l.config(t, store, tiles)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			c, err := tlog.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Lookup(ctx, "composer", "acme/foo")
			var ce *tlog.CheckpointError
			if !errors.As(err, &ce) {
				t.Fatalf("Lookup: %v; want a CheckpointError", err)
			}
			if len(ce.Note) == 0 {
				t.Fatalf("the refused checkpoint is not in the error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if storedSize(t, store) != 0 {
				t.Errorf("a refused checkpoint was stored")
			}
		})
	}
}

func TestCheckpointAccepted(t *testing.T) {
	l := newTestLog(t, 3)
	l.addN(4, pkgKey)
	for _, tc := range []struct {
		name string
		view view
		cfg  func(*tlog.Config)
	}{
		{name: "UnknownSignatureIgnored", view: view{extraSig: true}},
		{name: "ThresholdOfFresh", view: view{witnesses: []int{0, 2}}, cfg: func(c *tlog.Config) { c.WitnessThreshold = 2 }},
		{name: "PlainEd25519WitnessKey", cfg: func(c *tlog.Config) { c.Witnesses[1] = l.wits[1].plain }},
		{name: "AgeCheckOff", view: view{cosignAt: timeAgo(1000)}, cfg: func(c *tlog.Config) { c.MaxCosignatureAge = -1 }},
		{name: "NoWitnesses", view: view{witnesses: []int{}}, cfg: func(c *tlog.Config) { c.Witnesses = nil }},
		{name: "OneBadOneGood", view: view{checkpt: corruptSig("witness1.example")}, cfg: func(c *tlog.Config) { c.WitnessThreshold = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.setView(tc.view)
			defer l.setView(view{})
			store, tiles := newStores()
			cfg := l.config(t, store, tiles)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			c, err := tlog.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Lookup(ctx, "composer", "acme/foo"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRestartKeepsCheckpoint(t *testing.T) {
	l := newTestLog(t, 1)
	l.addN(5, pkgKey)
	store, tiles := newStores()
	mustLookup(t, l.client(t, store, tiles))

	// A new client over the same store (a restarted proxy) holds the log
	// to the history it verified before the restart.
	l.fork(2)
	l.addN(6, pkgKey)
	_, err := l.client(t, store, tiles).Lookup(ctx, "composer", "acme/foo")
	wantSecurityError(t, err, "fork")
}

func TestLookupNames(t *testing.T) {
	l := newTestLog(t, 0)
	l.add([]byte("scoped\n"), "npm/@acme/foo")
	c := l.client(t, newStoreOnly(), nil)
	lk, err := c.Lookup(ctx, "npm", "@acme/foo")
	if err != nil || len(lk.Entries) != 1 {
		t.Fatalf("scoped lookup: %v, %v", lk, err)
	}
	for _, bad := range [][2]string{{"composer", "../x"}, {"", "x"}, {"npm", "a/b/c"}, {"npm", "a//b"}, {"composer", "acme/"}} {
		if _, err := c.Lookup(ctx, bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "lookup") {
			t.Errorf("Lookup(%q, %q): %v; want refused", bad[0], bad[1], err)
		}
	}
}

func TestNewClientRefusesBadConfig(t *testing.T) {
	l := newTestLog(t, 2)
	store := newStoreOnly()
	for _, tc := range []struct {
		name string
		cfg  func(*tlog.Config)
		want string
	}{
		{"NoURL", func(c *tlog.Config) { c.URL = "" }, "URL is required"},
		{"BadURL", func(c *tlog.Config) { c.URL = "ftp://x/" }, "want http"},
		{"NoKey", func(c *tlog.Config) { c.LogKey = "" }, "LogKey is required"},
		{"BadKey", func(c *tlog.Config) { c.LogKey = "x+1+2" }, "log key"},
		{"NoStore", func(c *tlog.Config) { c.Store = nil }, "Store is required"},
		{"BadWitness", func(c *tlog.Config) { c.Witnesses[0] = "nope" }, "witness key"},
		{"WrongWitnessHash", func(c *tlog.Config) { c.Witnesses[0] = wrongHash(c.Witnesses[0]) }, "does not match the key"},
		{"DuplicateWitness", func(c *tlog.Config) { c.Witnesses[1] = l.wits[0].plain }, "every witness must be distinct"},
		{"ThresholdTooHigh", func(c *tlog.Config) { c.WitnessThreshold = 3 }, "only 2 witness keys"},
		{"NegativeThreshold", func(c *tlog.Config) { c.WitnessThreshold = -1 }, "negative"},
		{"OriginNewline", func(c *tlog.Config) { c.Origin = "a\nb" }, "newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := l.config(t, store, nil)
			cfg.Witnesses = l.witnessKeys()
			tc.cfg(&cfg)
			_, err := tlog.NewClient(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewClient: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// wantSecurityError checks err is a recorded *SecurityError of kind.
func wantSecurityError(t *testing.T, err error, kind string) *tlog.SecurityError {
	t.Helper()
	var se *tlog.SecurityError
	if !errors.As(err, &se) || !errors.Is(err, tlog.ErrSecurity) {
		t.Fatalf("got %v; want a SecurityError", err)
	}
	if se.Kind != kind || len(se.Stored) == 0 || len(se.Received) == 0 || bytes.Equal(se.Stored, se.Received) {
		t.Fatalf("SecurityError kind %q, want %q; stored %q, received %q", se.Kind, kind, se.Stored, se.Received)
	}
	text := se.Error()
	for _, want := range []string{"SECURITY ERROR", string(se.Stored[:20]), string(se.Received[:20])} {
		if !strings.Contains(strings.ReplaceAll(text, "\n\t", "\n"), want) {
			t.Fatalf("evidence lacks %q:\n%s", want, text)
		}
	}
	return se
}

// wantHalted checks that the evidence was recorded and that this client
// and a new one over the same store refuse the log from now on, even when
// it behaves again.
func wantHalted(t *testing.T, l *testLog, store tlog.CheckpointStore, tiles tlog.TileCache, c *tlog.Client) {
	t.Helper()
	ev, err := store.SecurityErrors(ctx)
	if err != nil || len(ev) != 1 || !bytes.HasPrefix(ev[0], []byte("SECURITY ERROR\n")) {
		t.Fatalf("recorded evidence: %q, %v", ev, err)
	}
	for _, c := range []*tlog.Client{c, l.client(t, store, tiles)} {
		if _, err := c.Lookup(ctx, "composer", "other/bar"); !errors.Is(err, tlog.ErrSecurity) || !strings.Contains(err.Error(), "hint:") {
			t.Fatalf("lookup after a security error: %v; want a refusal with a hint", err)
		}
	}
}

// checkEvidence re-checks a fork's proof as its recipient would: the proof
// shows that the received tree's first Smaller entries have SmallerRoot,
// and that is not the stored root.
func checkEvidence(t *testing.T, se *tlog.SecurityError, storedRoot []byte) {
	t.Helper()
	if len(se.Proof) == 0 || !strings.Contains(se.Error(), base64.StdEncoding.EncodeToString(se.Proof[0])) {
		t.Fatalf("no proof in the evidence:\n%s", se)
	}
	var received []byte
	if lines := strings.Split(string(se.Received), "\n"); len(lines) > 3 {
		received, _ = base64.StdEncoding.DecodeString(lines[2])
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, se.Smaller, se.Larger, se.Proof, se.SmallerRoot, received); err != nil {
		t.Fatalf("the proof does not verify against the received root: %v", err)
	}
	if bytes.Equal(se.SmallerRoot, storedRoot) {
		t.Fatalf("the recomputed root is the stored root: no misbehaviour shown")
	}
}

func mustLookup(t *testing.T, c *tlog.Client) *tlog.Lookup {
	t.Helper()
	lk, err := c.Lookup(ctx, "composer", "acme/foo")
	if err != nil {
		t.Fatal(err)
	}
	return lk
}

func newStoreOnly() *tlogtest.Store { return new(tlogtest.Store) }

// rootOf returns the root hash of the stored checkpoint.
func rootOf(t *testing.T, s tlog.CheckpointStore) []byte {
	t.Helper()
	raw, err := s.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return b
}

func timeAgo(hours int) time.Time { return time.Now().Add(-time.Duration(hours) * time.Hour) }

// corruptSig flips a bit in the signature line of the named signer.
func corruptSig(name string) func([]byte) []byte {
	return func(msg []byte) []byte {
		lines := strings.Split(string(msg), "\n")
		for i, line := range lines {
			prefix := "— " + name + " "
			if b64, ok := strings.CutPrefix(line, prefix); ok {
				sig, _ := base64.StdEncoding.DecodeString(b64)
				sig[len(sig)-1] ^= 1
				lines[i] = prefix + base64.StdEncoding.EncodeToString(sig)
			}
		}
		return []byte(strings.Join(lines, "\n"))
	}
}

// wrongHash replaces the key hash of a verifier key.
func wrongHash(vkey string) string {
	f := strings.SplitN(vkey, "+", 3)
	return f[0] + "+00000000+" + f[2]
}

// failingStore is a store whose evidence cannot be written or read.
type failingStore struct {
	*tlogtest.Store
	failRecord, failRead bool
}

func (s *failingStore) RecordSecurityError(ctx context.Context, ev []byte) error {
	if s.failRecord {
		return errors.New("disk full")
	}
	return s.Store.RecordSecurityError(ctx, ev)
}

func (s *failingStore) SecurityErrors(ctx context.Context) ([][]byte, error) {
	if s.failRead {
		return nil, errors.New("I/O error")
	}
	return s.Store.SecurityErrors(ctx)
}

func TestFailClosedWhenTheStoreFails(t *testing.T) {
	l := newTestLog(t, 0)
	l.addN(4, pkgKey)
	store := &failingStore{Store: newStoreOnly(), failRecord: true}
	c := l.client(t, store, nil)
	mustLookup(t, c)
	l.fork(2)
	l.addN(2, pkgKey)
	_, err := c.Lookup(ctx, "composer", "acme/foo")
	var se *tlog.SecurityError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "recording it failed: disk full") {
		t.Fatalf("fork with a failing store: %v", err)
	}
	// Not recorded, but this client still refuses.
	if _, err := c.Lookup(ctx, "composer", "acme/foo"); !errors.Is(err, tlog.ErrSecurity) {
		t.Fatalf("after an unrecorded security error: %v", err)
	}

	// Not knowing whether evidence exists is refusing.
	store = &failingStore{Store: newStoreOnly(), failRead: true}
	if _, err := l.client(t, store, nil).Lookup(ctx, "composer", "acme/foo"); err == nil || !strings.Contains(err.Error(), "I/O error") {
		t.Fatalf("lookup with unreadable evidence: %v", err)
	}
}

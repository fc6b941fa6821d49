package server

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
)

// history adds a short history to a log and returns the vendor key and the
// statements it logged, by index.
func history(t *testing.T, tl *testLog) (key, key, map[uint64][]byte) {
	t.Helper()
	vendor, ci := newKey(t, "acme"), newKey(t, "acme-ci")
	const eco = release.Composer
	logged := map[uint64][]byte{}
	for _, msg := range [][]byte{
		keyEvent(t, eco, "acme", release.ActionAdd, vendor.vkey, tl.core.signer),
		statement(t, eco, "acme/foo", "v1.0.0", 1, vendor.signer),
		keyEvent(t, eco, "acme/foo", release.ActionAdd, ci.vkey, vendor.signer),
		statement(t, eco, "acme/foo", "v1.1.0", 2, ci.signer),
		keyEvent(t, eco, "acme/foo", release.ActionRetire, ci.vkey, vendor.signer),
		statement(t, eco, "acme/bar", "v0.1.0", 3, vendor.signer),
	} {
		logged[tl.add(msg).Index] = msg
	}
	return vendor, ci, logged
}

// checkHistory checks that a reopened log still has every entry at its
// index, still refuses what it refused, and still admits what it should.
func checkHistory(t *testing.T, tl *testLog, vendor, ci key, logged map[uint64][]byte) {
	t.Helper()
	const eco = release.Composer
	v, err := note.NewVerifier(tl.srv.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, pkg := range []string{"acme/foo", "acme/bar"} {
		lk := tl.lookup(eco, pkg)
		verifyLookup(t, lk, v)
		for _, e := range lk.Entries {
			if want, ok := logged[e.Index]; !ok || string(want) != e.Note {
				t.Errorf("%s: entry %d is not what was logged there", pkg, e.Index)
			}
			seen[e.Index] = true
		}
	}
	if len(seen) != len(logged) {
		t.Errorf("lookups show %d entries; want %d", len(seen), len(logged))
	}
	for idx, msg := range logged {
		if idx == 3 {
			// Signed by the key retired since: re-adding it is refused,
			// whatever the log holds (admission is by signer).
			tl.refused(msg, http.StatusForbidden, "retired")
			continue
		}
		if r := tl.add(msg); r.Index != idx || !r.Existing {
			t.Errorf("re-adding entry %d = %+v", idx, r)
		}
	}
	// The uniqueness index survived: other content for a logged version
	// is equivocation.
	tl.refused(statement(t, eco, "acme/foo", "v1.0.0", 9, vendor.signer), http.StatusConflict, "index 1")
	// The keyrings were rebuilt: the retired key signs nothing new, the
	// vendor key still signs.
	tl.refused(statement(t, eco, "acme/foo", "v2.0.0", 10, ci.signer), http.StatusForbidden, "v2.0.0")
	if r := tl.add(statement(t, eco, "acme/foo", "v2.0.0", 10, vendor.signer)); r.Index != uint64(len(logged)) {
		t.Errorf("next add got index %d; want %d", r.Index, len(logged))
	}
}

func TestRestart(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor, ci, logged := history(t, tl)
	tl.reopen()
	checkHistory(t, tl, vendor, ci, logged)
}

func TestIndexRebuiltWhenDeleted(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor, ci, logged := history(t, tl)
	tl.close()
	if err := os.RemoveAll(tl.indexDir()); err != nil {
		t.Fatal(err)
	}
	tl.open()
	checkHistory(t, tl, vendor, ci, logged)
}

// TestIndexCaughtUp simulates a crash after Tessera logged entries but
// before the index recorded them: the index lost its last entries and its
// watermark is behind.
func TestIndexCaughtUp(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor, ci, logged := history(t, tl)
	tl.close()
	editIndex(t, tl.indexDir(), func(txn *badger.Txn) error {
		// Forget entries 3 to 5 and move the watermark back to 3.
		for _, k := range [][]byte{
			append(statementPrefix(release.Composer, "acme/foo"), idxBytes(3)...),
			append(keyEventPrefix(release.Composer, "acme/foo"), idxBytes(4)...),
			append(statementPrefix(release.Composer, "acme/bar"), idxBytes(5)...),
			versionKey(release.Composer, "acme/bar", "v0.1.0"),
		} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(watermarkKey, idxBytes(3))
	})
	tl.open()
	checkHistory(t, tl, vendor, ci, logged)
}

// TestIndexAheadOfLog: an index that claims more entries than the log has
// (a log directory restored from an older backup) is rebuilt.
func TestIndexAheadOfLog(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor, ci, logged := history(t, tl)
	tl.close()
	editIndex(t, tl.indexDir(), func(txn *badger.Txn) error {
		if err := txn.Set(append(statementPrefix(release.Composer, "acme/foo"), idxBytes(99)...), []byte("bogus")); err != nil {
			return err
		}
		return txn.Set(watermarkKey, idxBytes(100))
	})
	tl.open()
	checkHistory(t, tl, vendor, ci, logged)
}

func (tl *testLog) indexDir() string {
	if tl.cfg.IndexDir != "" {
		return tl.cfg.IndexDir
	}
	return filepath.Join(tl.cfg.Dir, IndexDirName)
}

func editIndex(t *testing.T, dir string, f func(*badger.Txn) error) {
	t.Helper()
	ix, err := openIndex(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.db.Update(f); err != nil {
		t.Fatal(err)
	}
	if err := ix.close(); err != nil {
		t.Fatal(err)
	}
}

// TestOtherKeyRefused: a log directory is bound to its origin and key.
func TestOtherKeyRefused(t *testing.T) {
	tl := newTestLog(t, nil)
	tl.close()
	cfg := tl.cfg
	cfg.Key = newKey(t, "log.example/other").skey
	if _, err := Open(t.Context(), cfg); err == nil {
		t.Fatal("Open with another key succeeded")
	}
	cfg = tl.cfg
	cfg.Origin = "log.example/renamed"
	if _, err := Open(t.Context(), cfg); err == nil {
		t.Fatal("Open with another origin succeeded")
	}
}

// TestOrigin: --origin signs checkpoints under the origin's name with the
// same key.
func TestOrigin(t *testing.T) {
	tl := newTestLog(t, func(c *Config) { c.Origin = "sigil.example/log" })
	if tl.srv.Origin() != "sigil.example/log" {
		t.Fatalf("Origin() = %q", tl.srv.Origin())
	}
	v, err := note.NewVerifier(tl.srv.VerifierKey())
	if err != nil || v.Name() != "sigil.example/log" {
		t.Fatalf("VerifierKey() = %q, %v", tl.srv.VerifierKey(), err)
	}
	vendor := newKey(t, "acme")
	tl.add(keyEvent(t, release.NPM, "@acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	verifyLookup(t, tl.lookup(release.NPM, "@acme/x"), v)
	// The same Ed25519 key as the key file's.
	if a, b := tl.srv.VerifierKey()[len(tl.srv.VerifierKey())-44:], tl.logK.vkey[len(tl.logK.vkey)-44:]; a != b {
		t.Errorf("public key changed: %s vs %s", a, b)
	}
}

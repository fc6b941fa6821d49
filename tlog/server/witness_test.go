package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/internal/witnesstest"
	"github.com/sigilproxy/sigil/release"
)

// withWitnesses returns a config change that starts witnesses for the
// log's key and configures them with the given threshold.
func withWitnesses(t *testing.T, ws *[]*witnesstest.Witness, n, threshold int) func(*Config) {
	return func(c *Config) {
		_, vkey, err := logSigner(c.Key, c.Origin)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			w := witnesstest.Start(t, "witness"+string(rune('a'+i))+".example", vkey)
			*ws = append(*ws, w)
			c.Witnesses = append(c.Witnesses, Witness{Key: w.VerifierKey(), URL: w.URL})
		}
		c.WitnessThreshold = threshold
	}
}

func TestWitnessCosigning(t *testing.T) {
	var ws []*witnesstest.Witness
	tl := newTestLog(t, withWitnesses(t, &ws, 2, 0))
	vendor := newKey(t, "acme")
	tl.add(keyEvent(t, release.Composer, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	r := tl.add(statement(t, release.Composer, "acme/foo", "v1.0.0", 1, vendor.signer))

	lk := tl.lookup(release.Composer, "acme/foo")
	verifiers := []note.Verifier{mustNoteVerifier(t, tl.srv.VerifierKey())}
	for _, w := range ws {
		v, err := f_note.NewVerifierForCosignatureV1(w.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open([]byte(lk.Checkpoint), note.VerifierList(verifiers...))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if len(n.Sigs) != 3 {
		t.Fatalf("checkpoint has %d verified signatures; want the log's and 2 cosignatures:\n%s", len(n.Sigs), lk.Checkpoint)
	}
	for _, s := range n.Sigs[1:] {
		ts, err := f_note.CoSigV1Timestamp(s)
		if err != nil || time.Since(ts) > time.Minute {
			t.Errorf("cosignature by %s: timestamp %v, %v", s.Name, ts, err)
		}
	}
	var cp f_log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	if cp.Size <= r.Index {
		t.Errorf("checkpoint size %d does not cover entry %d", cp.Size, r.Index)
	}
	for _, w := range ws {
		if size, _ := w.Latest(tl.srv.Origin()); size < cp.Size {
			t.Errorf("witness %s cosigned up to %d; want %d", w.Name(), size, cp.Size)
		}
	}
	verifyLookup(t, lk, verifiers[0])

	// The witnesses follow the log across a restart.
	tl.reopen()
	tl.add(statement(t, release.Composer, "acme/foo", "v1.1.0", 2, vendor.signer))
}

func TestWitnessThresholdNotMet(t *testing.T) {
	var ws []*witnesstest.Witness
	tl := newTestLog(t, func(c *Config) {
		withWitnesses(t, &ws, 2, 2)(c)
		c.AddTimeout = 3 * time.Second
	})
	vendor := newKey(t, "acme")
	tl.add(keyEvent(t, release.Composer, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))

	ws[1].SetFailing(http.StatusServiceUnavailable)
	msg := statement(t, release.Composer, "acme/foo", "v1.0.0", 1, vendor.signer)
	reason := tl.refused(msg, http.StatusServiceUnavailable, "no checkpoint covering it was published")
	for _, want := range []string{"entry 1 is in the log", "needs 2 of 2", ws[1].Name(), "503"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q does not contain %q", reason, want)
		}
	}
	if strings.Contains(reason, ws[0].Name()) {
		t.Errorf("reason %q blames the working witness", reason)
	}

	// Once the witness is back, the entry is published and a retry gets
	// its index. (On a loaded machine one round of cosigning can take
	// longer than the add timeout: retry as a client would.)
	ws[1].SetFailing(0)
	for try := 0; ; try++ {
		status, body := tl.post(msg)
		if status == http.StatusOK {
			if !strings.Contains(body, `"index":1`) || !strings.Contains(body, `"existing":true`) {
				t.Errorf("retry = %s; want index 1, existing", body)
			}
			break
		}
		if status != http.StatusServiceUnavailable || try == 10 {
			t.Fatalf("retry %d: %d %s", try, status, body)
		}
	}
}

func TestWitnessThresholdOneOfTwo(t *testing.T) {
	var ws []*witnesstest.Witness
	tl := newTestLog(t, withWitnesses(t, &ws, 2, 1))
	ws[0].SetFailing(http.StatusInternalServerError)
	vendor := newKey(t, "acme")
	tl.add(keyEvent(t, release.Composer, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	if _, cosigned := ws[1].Requests(); cosigned == 0 {
		t.Error("the working witness cosigned nothing")
	}
}

func TestWitnessConfigErrors(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, "log.example/x")
	w, err := witnesstest.New("w.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{Dir: dir, Key: k.skey, Witnesses: []Witness{{Key: w.VerifierKey(), URL: "http://127.0.0.1:1"}}, WitnessThreshold: 2},
		{Dir: dir, Key: k.skey, Witnesses: []Witness{{Key: w.VerifierKey(), URL: "ftp://x"}}},
		{Dir: dir, Key: k.skey, Witnesses: []Witness{{Key: "bogus", URL: "http://x"}}},
		{Dir: dir, Key: k.skey, WitnessThreshold: -1},
	} {
		if s, err := Open(t.Context(), cfg); err == nil {
			s.Close(t.Context())
			t.Errorf("Open(%+v) succeeded", cfg.Witnesses)
		}
	}
}

func TestParseFlags(t *testing.T) {
	core := newKey(t, "core")
	w, err := witnesstest.New("w.example")
	if err != nil {
		t.Fatal(err)
	}
	if ck, err := ParseCoreKey("npm=" + core.vkey); err != nil || ck.Ecosystem != "npm" || ck.Key != core.vkey {
		t.Errorf("ParseCoreKey(npm=) = %+v, %v", ck, err)
	}
	if ck, err := ParseCoreKey(core.vkey); err != nil || ck.Ecosystem != "" || ck.Key != core.vkey {
		t.Errorf("ParseCoreKey() = %+v, %v", ck, err)
	}
	for _, bad := range []string{"pypi=" + core.vkey, "composer=", "core", core.skey} {
		if _, err := ParseCoreKey(bad); err == nil {
			t.Errorf("ParseCoreKey(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "PRIVATE") {
			t.Errorf("ParseCoreKey error echoes a secret: %v", err)
		}
	}
	if pw, err := ParseWitness(w.VerifierKey() + "=https://w.example/sub?x=1"); err != nil || pw.Key != w.VerifierKey() || pw.URL != "https://w.example/sub?x=1" {
		t.Errorf("ParseWitness = %+v, %v", pw, err)
	}
	for _, bad := range []string{w.VerifierKey(), w.VerifierKey() + "=", "=http://x", w.VerifierKey() + "=ftp://x"} {
		if _, err := ParseWitness(bad); err == nil {
			t.Errorf("ParseWitness(%q) succeeded", bad)
		}
	}
}

func mustNoteVerifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

package tlog_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// observation returns an observation of npm left-pad at version, dated at,
// signed by signer.
func observation(t *testing.T, signer note.Signer, version string, at time.Time) []byte {
	t.Helper()
	o := &release.Observation{Ecosystem: release.NPM, Package: "left-pad", Version: version,
		Tree: "h1:" + strings.Repeat("A", 43) + "=", Manifest: "sha256:" + strings.Repeat("0", 64),
		Archive: "sha512-" + strings.Repeat("A", 86) + "==", Observed: at.UTC().Truncate(time.Second)}
	text, err := o.Text()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestLookupObservations(t *testing.T) {
	l := newTestLog(t, 1)
	now := time.Now()
	l.add(observation(t, l.signer, "1.0.0", now), "npm/left-pad")
	l.add(observation(t, l.signer, "1.0.0", now.Add(time.Hour)), "npm/left-pad") // a second one does not count
	store, tiles := newStores()
	c := l.client(t, store, tiles)
	lk, err := c.LookupVersions(context.Background(), release.NPM, "left-pad", []string{"1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	o := lk.Observations["1.0.0"]
	if len(lk.Entries) != 0 || o == nil || o.Index != 0 || !o.Observed.Equal(now.UTC().Truncate(time.Second)) {
		t.Fatalf("lookup = %+v, observation %+v", lk, o)
	}

	// An observation signed by another key is refused.
	skey, _, _ := note.GenerateKey(rand.Reader, "log.example/sigil")
	other, _ := note.NewSigner(skey)
	l.add(observation(t, other, "2.0.0", now), "npm/left-pad")
	if _, err := c.Lookup(context.Background(), release.NPM, "left-pad"); err == nil || !strings.Contains(err.Error(), "not signed by the log key") {
		t.Errorf("foreign observation: %v", err)
	}
}

func TestBackdatedObservation(t *testing.T) {
	l := newTestLog(t, 1)
	l.addN(3, "npm/other")
	store, tiles := newStores()
	c := l.client(t, store, tiles)
	// The proxy stores a checkpoint of size 3, cosigned now.
	if _, err := c.Lookup(context.Background(), release.NPM, "left-pad"); err != nil {
		t.Fatal(err)
	}
	// Then the log adds an observation dated a day earlier.
	l.add(observation(t, l.signer, "1.0.0", time.Now().Add(-24*time.Hour)), "npm/left-pad")
	_, err := c.Lookup(context.Background(), release.NPM, "left-pad")
	var se *tlog.SecurityError
	if !errors.As(err, &se) || se.Kind != "backdated" || !errors.Is(err, tlog.ErrSecurity) {
		t.Fatalf("backdated observation: %v", err)
	}
	for _, want := range []string{"SECURITY ERROR", "sigil-observed/v1", "index 3", "does not", "stored checkpoint"} {
		if !strings.Contains(se.String(), want) {
			t.Errorf("evidence lacks %q:\n%s", want, se)
		}
	}
	if _, err := c.Lookup(context.Background(), release.NPM, "left-pad"); !errors.Is(err, tlog.ErrSecurity) {
		t.Errorf("after the security error: %v", err)
	}

	// Dated within the slack of the checkpoint: honest.
	l2 := newTestLog(t, 1)
	l2.addN(1, "npm/other")
	s2, t2 := newStores()
	c2 := l2.client(t, s2, t2)
	if _, err := c2.Lookup(context.Background(), release.NPM, "left-pad"); err != nil {
		t.Fatal(err)
	}
	l2.add(observation(t, l2.signer, "1.0.0", time.Now().Add(-time.Minute)), "npm/left-pad")
	if _, err := c2.Lookup(context.Background(), release.NPM, "left-pad"); err != nil {
		t.Errorf("observation a minute before the checkpoint: %v", err)
	}
}

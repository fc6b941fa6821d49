package proxy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// TestStampCurrent: verdicts stay current while the package's evidence is
// the same, across new lookups of an unchanged package, and stop at once
// when a lookup proves other evidence (a revocation in a new checkpoint)
// or the log fails.
func TestStampCurrent(t *testing.T) {
	e := newTestEnv(t, nil)
	now := time.Now()
	e.v.now = func() time.Time { return now }
	ctx := context.Background()
	fs := []VersionFacts{facts("1.0.0", "https://archives.test/a.zip")}
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: "h1:x", Manifest: emptyManifest}))
	vs, st := e.v.VersionsStamped(ctx, release.Composer, "acme/foo", fs)
	if vs[0].Action != policy.Allow || !e.v.Current(ctx, release.Composer, "acme/foo", st) {
		t.Fatalf("fresh verdicts: %+v, current %v", vs[0], e.v.Current(ctx, release.Composer, "acme/foo", st))
	}

	// The log grows with entries of other packages, and the evidence is
	// evaluated again after its TTL: equal evidence, still current.
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: "h1:x", Manifest: emptyManifest}))
	e.log.set(11, nil)
	e.v.evidence.seen(11)
	now = now.Add(DefaultEvidenceTTL)
	calls := e.log.calls.Load()
	if !e.v.Current(ctx, release.Composer, "acme/foo", st) || e.log.calls.Load() != calls+1 {
		t.Errorf("after a new lookup of the same evidence: not current (%d lookups)", e.log.calls.Load()-calls)
	}

	// A new checkpoint revokes the key: not current at once, and the
	// verdicts made now are the new ones.
	revoked := &policy.Evidence{Trust: acmeFoo().Refused(3, "1.0.0", "the statement at index 3 was signed only by acme+1234abcd, revoked in acme at index 12").PackageTrust}
	e.ev.set("acme/foo", revoked)
	e.log.set(13, nil)
	e.v.evidence.seen(13)
	if e.v.Current(ctx, release.Composer, "acme/foo", st) {
		t.Fatal("current after a revocation")
	}
	vs, st = e.v.VersionsStamped(ctx, release.Composer, "acme/foo", fs)
	if vs[0].Action != policy.Block || !e.v.Current(ctx, release.Composer, "acme/foo", st) {
		t.Errorf("after the revocation: %+v", vs[0])
	}

	// A log that fails: verdicts made then are never current, nor those
	// made before.
	e.log.set(14, errors.New("connection refused"))
	e.v.evidence.seen(14)
	if e.v.Current(ctx, release.Composer, "acme/foo", st) {
		t.Error("current while the log fails")
	}
	vs, failed := e.v.VersionsStamped(ctx, release.Composer, "acme/foo", fs)
	if !vs[0].Failed || e.v.Current(ctx, release.Composer, "acme/foo", failed) {
		t.Errorf("verdicts of a failed lookup: %+v, current", vs[0])
	}
	if (Stamp{}) != failed {
		t.Errorf("stamp of a failed lookup: %+v", failed)
	}
}

// TestStampReleaseAge: a young version's verdict states its age, so it is
// current only until its age changes by a second; one that came of age is
// current for good.
func TestStampReleaseAge(t *testing.T) {
	day := 24 * time.Hour
	minAge := 3 * day
	e := newTestEnv(t, &policy.Config{MinReleaseAge: &minAge})
	observed := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	now := observed.Add(day + 200*time.Millisecond)
	e.v.now = func() time.Time { return now }
	ctx := context.Background()
	ev := unsigned(release.Composer, "acme/foo")
	ev.Observations = map[string]*tlog.Observation{"1.0.0": {Index: 4, Observation: &release.Observation{Manifest: emptyManifest, Observed: observed}}}
	e.ev.set("acme/foo", ev)
	fs := []VersionFacts{facts("1.0.0", "https://archives.test/a.zip")}
	vs, st := e.v.VersionsStamped(ctx, release.Composer, "acme/foo", fs)
	if vs[0].Action != policy.Block {
		t.Fatalf("young version: %+v", vs[0])
	}
	now = observed.Add(day + 900*time.Millisecond)
	if !e.v.Current(ctx, release.Composer, "acme/foo", st) {
		t.Error("not current within the same second of age")
	}
	now = observed.Add(day + time.Second)
	if e.v.Current(ctx, release.Composer, "acme/foo", st) {
		t.Error("current one second of age later")
	}
	now = observed.Add(minAge)
	vs, st = e.v.VersionsStamped(ctx, release.Composer, "acme/foo", fs)
	if vs[0].Action != policy.Allow || st.until != (time.Time{}) {
		t.Errorf("of age: %+v, until %v", vs[0], st.until)
	}
}

package policy

import (
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

// keyID is how a reason names a key: NAME+HASH of its verifier key line.
func keyID(name string) string {
	_, rest, _ := strings.Cut(tlogtest.VerifierKey(name), "+")
	hash, _, _ := strings.Cut(rest, "+")
	return name + "+" + hash
}

// TestReasonTexts holds whole sentences, as the clients print them, for the
// reasons written from the log's evidence.
func TestReasonTexts(t *testing.T) {
	trust := func() tlogtest.Trust { return tlogtest.NewTrust(release.Composer, "acme/foo") }
	twice := &Evidence{Trust: trust().Key("acme", "acme-release").Key("acme", "acme-ci").
		Statement(3, release.Statement{Version: "1.0.0", Tree: treeA, Manifest: manA}, "acme-release", "acme-ci").
		Statement(5, release.Statement{Version: "1.0.0", Tree: treeA, Manifest: manA}, "acme-ci").PackageTrust}
	// Keys in both namespaces, all revoked: still keyed, and named in the
	// order that governs the package.
	revoked := &Evidence{Trust: trust().Revoked("acme/foo", "foo-old", 12).Revoked("acme", "acme-old", 11).
		Refused(4, "1.0.0", "the statement at log index 4 was signed only by acme-old+1234abcd, revoked in acme at index 11").
		Refused(6, "1.0.0", "the statement at log index 6 was signed by no key of acme or acme/foo").
		Refused(7, "2.0.0", "another version's refusal").PackageTrust}
	for _, c := range []struct {
		name string
		cfg  Config
		ev   *Evidence
		a    *ArchiveFacts
		want string
	}{
		{"tree differs, first entry of two, two signers", Config{}, twice, &ArchiveFacts{Tree: treeB, Manifest: manA},
			"acme/foo@1.0.0: the archive's tree hash " + treeB + " differs from the signed tree " + treeA +
				" (statement at log index 3 signed by " + keyID("acme-release") + ", " + keyID("acme-ci") + ")"},
		{"no statement, rejected ones", Config{}, revoked, nil,
			"acme/foo@1.0.0: no valid release statement for this version is in the release log, and acme and acme/foo have signing keys" +
				" (the statement at log index 4 was signed only by acme-old+1234abcd, revoked in acme at index 11;" +
				" the statement at log index 6 was signed by no key of acme or acme/foo)"},
		{"no statement, one keyed namespace", Config{}, signedEvidence(), nil,
			"acme/foo@1.1.0: no valid release statement for this version is in the release log, and acme has signing keys" +
				" (the statement at log index 8 was signed only by key acme-old, revoked at log index 12)"},
		{"equivocation", Config{}, &Evidence{Trust: trust().Key("acme", "acme-release").Equivocation("1.0.0", 10, 14).PackageTrust}, nil,
			"acme/foo@1.0.0: the release log holds two different statements for this version, at indices 10 and 14; the version is blocked until the vendor resolves it"},
		{"unsigned deny", Config{Unsigned: UnsignedDeny}, unsignedEvidence(), nil,
			"acme/foo@1.0.0: the package is unsigned: no key was ever registered for acme or acme/foo, and the policy denies unsigned packages (unsigned = deny)"},
		{"unsigned warn", Config{Unsigned: UnsignedWarn}, unsignedEvidence(), nil,
			"acme/foo: the package is unsigned: no key was ever registered for acme or acme/foo; served under the unsigned = warn policy"},
		{"no evidence", Config{}, &Evidence{}, nil, "acme/foo@1.0.0: no release log evidence was available"},
	} {
		t.Run(c.name, func(t *testing.T) {
			version := "1.0.0" // the unsigned = warn notice names none
			if _, v, ok := strings.Cut(c.want[:strings.Index(c.want, ":")], "@"); ok {
				version = v
			}
			m := meta(version)
			var v Verdict
			if c.a != nil {
				v = c.cfg.Archive(c.ev, m, *c.a)
			} else {
				v = c.cfg.Version(c.ev, m)
			}
			if v.Reason() != c.want {
				t.Errorf("reason\n%s\nwant\n%s", v.Reason(), c.want)
			}
		})
	}
}

// TestPassingAllocatesNothing: deciding a version that passes builds no
// string and copies no evidence, signed or not, from metadata or at
// archive time; it is the warm path of every metadata document.
func TestPassingAllocatesNothing(t *testing.T) {
	cfg := &Config{}
	signed, unsigned := signedEvidence(), unsignedEvidence()
	m := meta("1.0.0")
	a := ArchiveFacts{Tree: treeA, Manifest: manA, Pinned: treeA, PinnedManifest: manA}
	for name, f := range map[string]func() Verdict{
		"signed version":   func() Verdict { return cfg.Version(signed, m) },
		"unsigned version": func() Verdict { return cfg.Version(unsigned, m) },
		"signed archive":   func() Verdict { return cfg.Archive(signed, m, a) },
		"unsigned archive": func() Verdict { return cfg.Archive(unsigned, m, a) },
	} {
		if v := f(); v.Action != Allow || len(v.Reasons) != 0 {
			t.Fatalf("%s: %v %q", name, v.Action, v.Reason())
		}
		if n := testing.AllocsPerRun(100, func() { f() }); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}

package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

const (
	treeA = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	treeB = "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
	manA  = "sha256:aaaa"
	manB  = "sha256:bbbb"
)

var (
	sha512 = integrityOf("good bytes")
	other  = integrityOf("other bytes")
)

func integrityOf(s string) string {
	i, err := release.Integrity(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return i
}

func signedEvidence() *Evidence {
	return &Evidence{Trust: tlogtest.NewTrust(release.Composer, "acme/foo").Key("acme", "acme-release").
		Statement(7, release.Statement{Version: "1.0.0", Tree: treeA, Source: "abc123", Manifest: manA}, "acme-release").
		Statement(9, release.Statement{Version: "2.0.0", Tree: treeA, Manifest: manA, Archive: sha512}, "acme-release").
		Refused(8, "1.1.0", "the statement at log index 8 was signed only by key acme-old, revoked at log index 12").
		Equivocation("1.2.0", 10, 14).PackageTrust}
}

func unsignedEvidence() *Evidence {
	return &Evidence{Trust: tlogtest.NewTrust(release.Composer, "acme/foo").PackageTrust}
}

func meta(version string) Metadata {
	return Metadata{Package: "acme/foo", Version: version, Manifest: manA}
}

type want struct {
	action  Action
	signed  bool
	reasons []string // substrings, each must appear in the joined reasons
}

// failed reports whether a Warn is a failure: anything but the unsigned =
// warn policy's own warning.
func (w want) failed() bool {
	return len(w.reasons) != 1 || w.reasons[0] != unsignedWarnOnly
}

const unsignedWarnOnly = "unsigned = warn"

func check(t *testing.T, got Verdict, w want) {
	t.Helper()
	if failed := w.action == Block || w.action == Warn && w.failed(); got.Failed != failed {
		t.Errorf("verdict %v failed=%v (%q), want failed=%v", got.Action, got.Failed, got.Reason(), failed)
	}
	if got.Action != w.action || got.Signed != w.signed {
		t.Errorf("verdict = %v signed=%v (%q), want %v signed=%v", got.Action, got.Signed, got.Reason(), w.action, w.signed)
	}
	for _, r := range got.Reasons {
		// The unsigned = warn notice is about the package: it names no
		// version, so that it is one sentence for every version.
		notice := strings.HasPrefix(r, "acme/foo: the package is unsigned") && strings.HasSuffix(r, unsignedWarnOnly+" policy")
		if !strings.HasPrefix(r, "acme/foo@") && !notice {
			t.Errorf("reason %q does not start with package@version", r)
		}
	}
	// Only the notice alone is NoticeOnly: the fronts then say nothing
	// with the archive.
	if noticeOnly := w.action == Warn && !w.failed(); got.NoticeOnly != noticeOnly {
		t.Errorf("verdict %v NoticeOnly=%v (%q), want %v", got.Action, got.NoticeOnly, got.Reason(), noticeOnly)
	}
	for _, sub := range w.reasons {
		if !strings.Contains(got.Reason(), sub) {
			t.Errorf("reasons %q lack %q", got.Reason(), sub)
		}
	}
	if w.action == Allow && w.reasons == nil && len(got.Reasons) != 0 {
		t.Errorf("allow with reasons %q", got.Reason())
	}
}

func TestVersion(t *testing.T) {
	logDown := &Evidence{Err: errors.New("checkpoint: dial tcp: connection refused")}
	withSource := meta("1.0.0")
	withSource.Source = "abc123"
	otherSource := meta("1.0.0")
	otherSource.Source = "def456"
	badManifest := meta("1.0.0")
	badManifest.Manifest = manB
	noManifest := meta("1.0.0")
	noManifest.Manifest, noManifest.ManifestErr = "", errors.New("require is a number")
	intOK := meta("2.0.0")
	intOK.Integrity = "sha1-xyz " + sha512
	intBad := meta("2.0.0")
	intBad.Integrity = other
	distRef := func(v, ref string) Metadata {
		m := meta(v)
		m.DistReference = ref
		return m
	}
	regSig := func(required bool) Metadata {
		m := meta("1.0.0")
		m.Registry = RegistrySignature{Problems: []string{"acme/foo@1.0.0: no registry signature"}, Required: required}
		return m
	}
	noDist := meta("1.0.0")
	noDist.NoDist = true
	intSHA1 := meta("2.0.0")
	intSHA1.Integrity = "sha1-xyz"

	tests := []struct {
		name string
		cfg  Config
		ev   *Evidence
		m    Metadata
		want want
	}{
		{"signed ok", Config{}, signedEvidence(), meta("1.0.0"), want{Allow, true, nil}},
		{"signed ok with same source", Config{}, signedEvidence(), withSource, want{Allow, true, nil}},
		{"source differs", Config{}, signedEvidence(), otherSource, want{Block, false, []string{"acme/foo@1.0.0", "source def456", "names abc123", "index 7", "acme-release"}}},
		{"source differs, warn mode", Config{Mode: ModeWarn}, signedEvidence(), otherSource, want{Warn, false, []string{"source def456"}}},
		{"manifest differs", Config{}, signedEvidence(), badManifest, want{Block, false, []string{"manifest sha256:bbbb", "manifest sha256:aaaa", "index 7"}}},
		{"manifest not computable", Config{}, signedEvidence(), noManifest, want{Block, false, []string{"require is a number"}}},
		{"no statement", Config{}, signedEvidence(), meta("3.0.0"), want{Block, false, []string{"acme/foo@3.0.0", "no valid release statement", "acme has signing keys"}}},
		{"no statement, warn mode", Config{Mode: ModeWarn}, signedEvidence(), meta("3.0.0"), want{Warn, false, []string{"no valid release statement"}}},
		{"revoked key", Config{}, signedEvidence(), meta("1.1.0"), want{Block, false, []string{"revoked at log index 12", "index 8"}}},
		{"unsigned newer version of signed package, unsigned=allow", Config{Unsigned: UnsignedAllow}, signedEvidence(), meta("3.0.0"), want{Block, false, []string{"no valid release statement"}}},
		{"equivocation", Config{}, signedEvidence(), meta("1.2.0"), want{Block, false, []string{"indices 10 and 14"}}},
		{"equivocation, warn mode", Config{Mode: ModeWarn}, signedEvidence(), meta("1.2.0"), want{Warn, false, []string{"indices 10 and 14"}}},
		{"log down", Config{}, logDown, meta("1.0.0"), want{Block, false, []string{"release log could not be checked", "connection refused"}}},
		{"log down, warn mode", Config{Mode: ModeWarn}, logDown, meta("1.0.0"), want{Warn, false, []string{"connection refused"}}},
		{"log down, unsigned allow still fails closed", Config{Unsigned: UnsignedAllow}, logDown, meta("1.0.0"), want{Block, false, []string{"connection refused"}}},
		{"no evidence", Config{}, nil, meta("1.0.0"), want{Block, false, []string{"no release log evidence"}}},
		{"unsigned default allow, quietly", Config{}, unsignedEvidence(), meta("1.0.0"), want{Allow, false, nil}},
		{"unsigned warn", Config{Unsigned: UnsignedWarn}, unsignedEvidence(), meta("1.0.0"), want{Warn, false, []string{unsignedWarnOnly}}},
		{"unsigned reason names namespaces", Config{Unsigned: UnsignedDeny}, unsignedEvidence(), meta("1.0.0"), want{Block, false, []string{"is unsigned", "acme or acme/foo"}}},
		{"unsigned allow", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), want{Allow, false, nil}},
		{"unsigned deny", Config{Unsigned: UnsignedDeny}, unsignedEvidence(), meta("1.0.0"), want{Block, false, []string{"unsigned = deny"}}},
		{"unsigned deny, warn mode", Config{Mode: ModeWarn, Unsigned: UnsignedDeny}, unsignedEvidence(), meta("1.0.0"), want{Warn, false, []string{"unsigned = deny"}}},
		{"unsigned deny by rule", Config{Rules: []Rule{{Package: "acme/*", Unsigned: UnsignedDeny}}}, unsignedEvidence(), meta("1.0.0"), want{Block, false, []string{"unsigned = deny"}}},
		{"warn mode by rule", Config{Rules: []Rule{{Package: "acme/foo", Mode: ModeWarn}}}, signedEvidence(), meta("3.0.0"), want{Warn, false, nil}},
		{"rule for another package", Config{Rules: []Rule{{Package: "other/*", Mode: ModeWarn}}}, signedEvidence(), meta("3.0.0"), want{Block, false, nil}},
		{"npm integrity matches", Config{}, signedEvidence(), intOK, want{Allow, true, nil}},
		{"npm integrity differs", Config{}, signedEvidence(), intBad, want{Block, false, []string{"dist.integrity \"" + other, "signed archive digest " + sha512, "index 9"}}},
		{"npm integrity sha1 only", Config{}, signedEvidence(), intSHA1, want{Allow, true, nil}},
		{"dist.reference swapped", Config{}, signedEvidence(), distRef("1.0.0", "def456"), want{Block, false, []string{"dist.reference def456", "source abc123", "index 7"}}},
		{"dist.reference agrees", Config{}, signedEvidence(), distRef("1.0.0", "abc123"), want{Allow, true, nil}},
		{"signed version without dist", Config{}, signedEvidence(), noDist, want{Block, false, []string{"no archive (dist)"}}},
		{"unsigned version without dist", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), noDist, want{Allow, false, nil}},
		{"registry signature required and missing", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), regSig(true), want{Block, false, []string{"acme/foo@1.0.0: no registry signature"}}},
		{"registry signature required, warn mode", Config{Mode: ModeWarn, Unsigned: UnsignedAllow}, unsignedEvidence(), regSig(true), want{Warn, false, []string{"no registry signature"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.cfg.Version(tt.ev, tt.m), tt.want)
		})
	}
}

func TestArchive(t *testing.T) {
	npm := meta("2.0.0")
	npm.Integrity = sha512
	npmOther := meta("2.0.0")
	npmOther.Integrity = other
	shrinkwrapped := meta("1.0.0")
	shrinkwrapped.Shrinkwrap = true

	tests := []struct {
		name string
		cfg  Config
		ev   *Evidence
		m    Metadata
		a    ArchiveFacts
		want want
	}{
		{"tree matches", Config{}, signedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA}, want{Allow, true, nil}},
		{"tree differs", Config{}, signedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeB}, want{Block, false, []string{"tree hash " + treeB, "signed tree " + treeA, "index 7", "acme-release"}}},
		{"tree differs, warn mode", Config{Mode: ModeWarn}, signedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeB}, want{Warn, false, []string{treeB}}},
		{"archive malformed", Config{}, signedEvidence(), meta("1.0.0"), ArchiveFacts{TreeErr: errors.New("path traversal: ../x")}, want{Block, false, []string{"path traversal"}}},
		{"metadata fails at archive time too", Config{}, signedEvidence(), meta("3.0.0"), ArchiveFacts{Tree: treeA}, want{Block, false, []string{"no valid release statement"}}},
		{"npm bytes match", Config{}, signedEvidence(), npm, ArchiveFacts{Tree: treeA, SHA512: sha512}, want{Allow, true, nil}},
		{"npm bytes differ from statement", Config{}, signedEvidence(), meta("2.0.0"), ArchiveFacts{Tree: treeA, SHA512: other}, want{Block, false, []string{"digest " + other, "signed archive digest " + sha512}}},
		{"npm bytes not hashed", Config{}, signedEvidence(), meta("2.0.0"), ArchiveFacts{Tree: treeA}, want{Block, false, []string{"not computed"}}},
		{"npm bytes differ from dist.integrity", Config{}, unsignedEvidence(), npmOther, ArchiveFacts{Tree: treeA, SHA512: sha512, Pinned: treeA}, want{Block, false, []string{"dist.integrity \"" + other}}},
		{"unsigned first seen", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Pinned: treeA}, want{Allow, false, nil}},
		{"unsigned pin mismatch", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeB, Pinned: treeA}, want{Block, false, []string{"tree hash " + treeB, "differs from " + treeA, "first seen"}}},
		{"unsigned pin mismatch, warn mode", Config{Mode: ModeWarn, Unsigned: UnsignedWarn}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeB, Pinned: treeA}, want{Warn, false, []string{"first seen", "unsigned = warn"}}},
		{"unsigned pin mismatch, default", Config{}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeB, Pinned: treeA}, want{Block, false, []string{"first seen"}}},
		{"unsigned malformed", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{TreeErr: errors.New("zip bomb")}, want{Block, false, []string{"zip bomb"}}},
		{"unsigned deny", Config{Unsigned: UnsignedDeny}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Pinned: treeA}, want{Block, false, []string{"unsigned = deny"}}},
		{"log down", Config{}, &Evidence{Err: errors.New("SECURITY ERROR: fork")}, meta("1.0.0"), ArchiveFacts{Tree: treeA}, want{Block, false, []string{"SECURITY ERROR"}}},
		{"equivocation", Config{}, signedEvidence(), meta("1.2.0"), ArchiveFacts{Tree: treeA}, want{Block, false, []string{"indices 10 and 14"}}},
		{"unsigned metadata differs from the archive", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Pinned: treeA, Manifest: "sha256:cccc"},
			want{Block, false, []string{"acme/foo@1.0.0", "metadata (manifest sha256:aaaa)", "archive's own manifest file (manifest sha256:cccc)"}}},
		{"unsigned metadata differs from the archive, warn mode", Config{Mode: ModeWarn, Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Pinned: treeA, Manifest: "sha256:cccc"},
			want{Warn, false, []string{"archive's own manifest file"}}},
		{"signed metadata differs from the archive", Config{}, signedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Manifest: "sha256:cccc"}, want{Block, false, []string{"archive's own manifest file"}}},
		{"archive manifest unreadable", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Pinned: treeA, ManifestErr: errors.New("bin must be an array")},
			want{Block, false, []string{"own manifest cannot be read", "bin must be an array"}}},
		{"shrinkwrap claimed, archive has none", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), shrinkwrapped, ArchiveFacts{Tree: treeA, Pinned: treeA},
			want{Block, false, []string{"acme/foo@1.0.0", "holds an npm-shrinkwrap.json (_hasShrinkwrap), and it holds none"}}},
		{"shrinkwrap claimed and held", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), shrinkwrapped, ArchiveFacts{Tree: treeA, Pinned: treeA, Shrinkwrap: true}, want{Allow, false, nil}},
		// npm does not read a shrinkwrap the metadata does not announce,
		// with or without sigil.
		{"shrinkwrap held, not claimed", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Pinned: treeA, Shrinkwrap: true}, want{Allow, false, nil}},
		{"unsigned pinned manifest differs", Config{Unsigned: UnsignedAllow}, unsignedEvidence(), meta("1.0.0"), ArchiveFacts{Tree: treeA, Pinned: treeA, PinnedManifest: "sha256:dddd"},
			want{Block, false, []string{"manifest sha256:aaaa differs from sha256:dddd", "first seen"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a.Manifest == "" && tt.a.ManifestErr == nil {
				tt.a.Manifest = tt.m.Manifest // the archive agrees unless the case says otherwise
			}
			check(t, tt.cfg.Archive(tt.ev, tt.m, tt.a), tt.want)
		})
	}
}

func TestKeepSourceRule(t *testing.T) {
	c := Config{Rules: []Rule{{Package: "acme/*", Source: SourceKeep}, {Package: "other/*", Source: SourceDrop}}}
	if !c.For("acme/foo").KeepSource {
		t.Error(`source = "keep" does not keep the source`)
	}
	for _, pkg := range []string{"other/foo", "vendor/foo"} {
		if c.For(pkg).KeepSource {
			t.Errorf("%s keeps its source without a rule saying so", pkg)
		}
	}
	bad := Config{Rules: []Rule{{Package: "acme/*", Source: "mirror"}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `source "mirror"`) {
		t.Errorf("Validate = %v, want an error naming the source value", err)
	}
}

func TestIntegrityMismatch(t *testing.T) {
	unpadded := strings.TrimRight(sha512, "=")
	for _, tt := range []struct {
		sri, want string
		mismatch  bool
	}{
		{sha512, sha512, false},
		{"sha1-x " + sha512 + "?opt", sha512, false},
		{unpadded, sha512, false},
		{other, sha512, true},
		{other + " " + sha512, sha512, true}, // two different sha512: pins neither
		{"sha512-notbase64!", sha512, true},
		{"sha1-x", sha512, false},
		{"", sha512, false},
	} {
		if got := integrityMismatch(tt.sri, tt.want); got != tt.mismatch {
			t.Errorf("integrityMismatch(%q, %q) = %v, want %v", tt.sri, tt.want, got, tt.mismatch)
		}
	}
}

func TestJoinNames(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a or b"},
		{[]string{"a", "b", "c"}, "a, b or c"},
	} {
		if got := joinNames(tt.in, "or"); got != tt.want {
			t.Errorf("joinNames(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRegistrySignatureWarns: a registry signature that is not required
// only warns; the vendor's verdict stands.
func TestRegistrySignatureWarns(t *testing.T) {
	m := meta("1.0.0")
	m.Registry = RegistrySignature{Problems: []string{"acme/foo@1.0.0: no registry signature"}}
	v := (&Config{}).Version(signedEvidence(), m)
	if v.Action != Warn || v.Failed || !v.Signed || v.NoticeOnly || v.Reason() != "acme/foo@1.0.0: no registry signature" {
		t.Errorf("verdict %+v", v)
	}
}

// TestNoticeOnly: the unsigned = warn notice alone is NoticeOnly, at
// metadata and at archive time, and one sentence for every version; any
// other reason beside it, failing or not, is news the archive carries.
func TestNoticeOnly(t *testing.T) {
	cfg := &Config{Unsigned: UnsignedWarn}
	ev := unsignedEvidence()
	regWarn := meta("1.0.0")
	regWarn.Registry = RegistrySignature{Problems: []string{"acme/foo@1.0.0: no registry signature"}}
	for _, c := range []struct {
		name string
		v    Verdict
		want bool
	}{
		{"version", cfg.Version(ev, meta("1.0.0")), true},
		{"archive first seen", cfg.Archive(ev, meta("1.0.0"), ArchiveFacts{Tree: treeA, Manifest: manA, Pinned: treeA, PinnedManifest: manA}), true},
		{"registry signature warning beside it", cfg.Version(ev, regWarn), false},
		{"pin mismatch, warn mode", (&Config{Mode: ModeWarn, Unsigned: UnsignedWarn}).Archive(ev, meta("1.0.0"), ArchiveFacts{Tree: treeB, Manifest: manA, Pinned: treeA}), false},
		{"unsigned allow", (&Config{}).Version(ev, meta("1.0.0")), false},
		{"unsigned deny, warn mode", (&Config{Mode: ModeWarn, Unsigned: UnsignedDeny}).Version(ev, meta("1.0.0")), false},
	} {
		if c.v.NoticeOnly != c.want {
			t.Errorf("%s: NoticeOnly=%v (%v %q), want %v", c.name, c.v.NoticeOnly, c.v.Action, c.v.Reason(), c.want)
		}
	}
	a, b := cfg.Version(ev, meta("1.0.0")), cfg.Version(ev, meta("2.0.0"))
	if a.Reason() != b.Reason() {
		t.Errorf("the notice differs between versions: %q, %q", a.Reason(), b.Reason())
	}
}

package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// logBuilder writes a package's log entries with real keys and signatures,
// so that the evidence goes through tlog.Evaluate and release.Keyring.
type logBuilder struct {
	t       testing.TB
	entries []tlog.Entry
}

type testKey struct {
	signer string
	vkey   string
}

func newTestKey(t testing.TB, name string) testKey {
	skey, vkey, err := release.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{skey, vkey}
}

func (b *logBuilder) sign(text []byte, keys ...testKey) {
	b.t.Helper()
	var signers []note.Signer
	for _, k := range keys {
		s, err := release.NewSigner(k.signer)
		if err != nil {
			b.t.Fatal(err)
		}
		signers = append(signers, s)
	}
	msg, err := release.Sign(text, signers...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.entries = append(b.entries, tlog.Entry{Index: uint64(len(b.entries)), Note: msg})
}

func (b *logBuilder) keyEvent(ns string, action release.Action, key testKey, by ...testKey) {
	b.t.Helper()
	text, err := (&release.KeyEvent{Ecosystem: release.Composer, Namespace: ns, Action: action, Key: key.vkey}).Text()
	if err != nil {
		b.t.Fatal(err)
	}
	b.sign(text, by...)
}

func testTree(content string) string {
	s := sha256.Sum256([]byte(content))
	return "h1:" + base64.StdEncoding.EncodeToString(s[:])
}

func testManifest(content string) string {
	s := sha256.Sum256([]byte(content))
	return "sha256:" + hex.EncodeToString(s[:])
}

func (b *logBuilder) statement(version, content, source string, by ...testKey) {
	b.t.Helper()
	text, err := (&release.Statement{Ecosystem: release.Composer, Package: "acme/foo", Version: version,
		Tree: testTree(content), Source: source, Manifest: testManifest("m")}).Text()
	if err != nil {
		b.t.Fatal(err)
	}
	b.sign(text, by...)
}

// entriesLog answers every lookup with the same proven entries.
type entriesLog struct {
	entries []tlog.Entry
}

func (l *entriesLog) Lookup(ctx context.Context, eco, pkg string) (*tlog.Lookup, error) {
	return &tlog.Lookup{Ecosystem: eco, Package: pkg, Checkpoint: &tlog.Checkpoint{Size: uint64(len(l.entries))}, Entries: l.entries}, nil
}

func TestEvaluateLookup(t *testing.T) {
	core := newTestKey(t, "composer-core")
	k1 := newTestKey(t, "acme-release")
	k2 := newTestKey(t, "stranger")
	k3 := newTestKey(t, "acme-ci")
	b := &logBuilder{t: t}
	b.keyEvent("acme", release.ActionAdd, k1, core)  // 0: bootstrapped by the core key
	b.statement("1.0.0", "one", "abc123", k1)        // 1: valid
	b.statement("1.1.0", "one-one", "", k2)          // 2: not a key of acme
	b.keyEvent("acme", release.ActionAdd, k3, k1)    // 3
	b.statement("2.0.0", "two", "", k3)              // 4: its key is revoked at 5
	b.keyEvent("acme", release.ActionRevoke, k3, k1) // 5
	b.statement("3.0.0", "three", "", k1)            // 6
	b.statement("3.0.0", "three-evil", "", k1)       // 7: equivocation
	b.keyEvent("acme", release.ActionRetire, k1, k1) // 8: retired after signing
	b.statement("4.0.0", "four", "", k1)             // 9: signed by a retired key
	b.statement("1.0.0", "one", "abc123", k1)        // 10: the same release logged again

	v, err := NewVerifier(VerifierConfig{
		Log:     &entriesLog{b.entries},
		Policy:  &policy.Config{CoreKeys: map[string][]string{release.Composer: {core.vkey}}},
		Cache:   newMemCache(),
		TempDir: t.TempDir(),
		Logger:  testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	fact := func(version, source string) VersionFacts {
		return VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Package: "acme/foo", Version: version, Manifest: testManifest("m"), Source: source}, ArchiveURL: "https://archives.test/a.zip"}
	}
	fs := []VersionFacts{fact("1.0.0", "abc123"), fact("1.1.0", ""), fact("2.0.0", ""), fact("3.0.0", ""), fact("4.0.0", ""), fact("5.0.0", "")}
	got := v.Versions(context.Background(), release.Composer, "acme/foo", fs)
	for i, w := range []struct {
		action     policy.Action
		keepSource bool
		reason     []string
	}{
		{policy.Allow, false, nil}, // no source = "keep" rule
		{policy.Block, false, []string{"acme/foo@1.1.0", "index 2", "stranger"}},
		{policy.Block, false, []string{"acme/foo@2.0.0", "revoked in acme at index 5"}},
		{policy.Block, false, []string{"acme/foo@3.0.0", "indices 6 and 7"}},
		{policy.Block, false, []string{"acme/foo@4.0.0", "index 9"}},
		{policy.Block, false, []string{"acme/foo@5.0.0", "no valid release statement"}},
	} {
		g := got[i]
		if g.Action != w.action || g.KeepSource != w.keepSource {
			t.Errorf("%s: %v keepSource=%v (%s), want %v keepSource=%v", fs[i].Version, g.Action, g.KeepSource, g.Reason(), w.action, w.keepSource)
		}
		for _, s := range w.reason {
			if !strings.Contains(g.Reason(), s) {
				t.Errorf("%s: reason %q lacks %q", fs[i].Version, g.Reason(), s)
			}
		}
	}

	// The policy decides from the log's evaluation itself (entry 10 came
	// after k1 retired: it does not count, and 1.0.0 stands on entry 1).
	ev := v.lookup(context.Background(), release.Composer, "acme/foo")
	ve := ev.Trust.Statements["1.0.0"]
	if ve == nil || len(ve.Entries) != 1 || ve.Entries[0].Index != 1 || ve.Entries[0].Signers[0] != k1.vkey || ve.Statement.Tree != testTree("one") {
		t.Errorf("statement of 1.0.0: %+v", ve)
	}
	if ev.Unsigned() || len(ev.Trust.Keys["acme"]) != 2 {
		t.Errorf("keys %+v", ev.Trust.Keys)
	}

	// A retired key's earlier statements stay valid; its later ones do
	// not (checked above, 4.0.0).
	if _, ok := ev.Trust.Statements["3.0.0"]; ok {
		t.Error("an equivocated version has a statement")
	}
}

func TestEvaluateBreakGlassAndPins(t *testing.T) {
	core := newTestKey(t, "composer-core")
	lost := newTestKey(t, "acme-lost")
	fresh := newTestKey(t, "acme-new")
	pinned := newTestKey(t, "acme-pinned")
	b := &logBuilder{t: t}
	b.keyEvent("acme", release.ActionAdd, lost, core)  // 0: bootstrap
	b.keyEvent("acme", release.ActionAdd, fresh, core) // 1: break-glass: acme has an active key
	b.statement("1.0.0", "one", "", fresh)             // 2
	b.statement("2.0.0", "two", "", pinned)            // 3: signed by a key only the user pinned

	for _, tt := range []struct {
		name       string
		breakGlass *bool
		want       policy.Action
	}{
		{"break-glass allowed by default", nil, policy.Allow},
		{"break-glass refused", new(false), policy.Block},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{
				Log: &entriesLog{b.entries},
				Policy: &policy.Config{
					BreakGlass: tt.breakGlass,
					CoreKeys:   map[string][]string{release.Composer: {core.vkey}},
					VendorKeys: map[string][]string{"acme/foo": {pinned.vkey}, "other": {pinned.vkey}},
				},
				Cache:   newMemCache(),
				TempDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			f := func(version string) VersionFacts {
				return VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Package: "acme/foo", Version: version, Manifest: testManifest("m")}, ArchiveURL: "https://archives.test/a.zip"}
			}
			got := v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{f("1.0.0"), f("2.0.0")})
			if got[0].Action != tt.want {
				t.Errorf("statement by a break-glass key: %v (%s), want %v", got[0].Action, got[0].Reason(), tt.want)
			}
			if got[1].Action != policy.Allow {
				t.Errorf("statement by a pinned vendor key: %v (%s)", got[1].Action, got[1].Reason())
			}
		})
	}
}

package release

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// A party holds one key pair.
type party struct {
	skey, vkey string
	s          note.Signer
}

func newParty(t testing.TB, name, seed string) party {
	skey, vkey := testKey(t, name, seed)
	return party{skey, vkey, testSigner(t, skey)}
}

func (p party) id() string { return keyID(p.vkey) }

func signedEvent(t testing.TB, eco, ns string, action Action, key string, by ...party) []byte {
	t.Helper()
	text, err := (&KeyEvent{Ecosystem: eco, Namespace: ns, Action: action, Key: key}).Text()
	if err != nil {
		t.Fatal(err)
	}
	return signWith(t, text, by)
}

func signedStatement(t testing.TB, eco, pkg, version string, by ...party) []byte {
	t.Helper()
	st := testStatement()
	st.Ecosystem, st.Package, st.Version = eco, pkg, version
	text, err := st.Text()
	if err != nil {
		t.Fatal(err)
	}
	return signWith(t, text, by)
}

func signWith(t testing.TB, text []byte, by []party) []byte {
	t.Helper()
	var signers []note.Signer
	for _, p := range by {
		signers = append(signers, p.s)
	}
	msg, err := Sign(text, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// world is a composer keyring with a core key and some vendors' keys.
type world struct {
	t                   *testing.T
	k                   *Keyring
	core, a, b, c, evil party
}

func newWorld(t *testing.T, breakGlass bool) *world {
	w := &world{
		t:    t,
		core: newParty(t, "packagist-core", "1"),
		a:    newParty(t, "acme", "a"),
		b:    newParty(t, "acme", "b"), // same name as a, another key
		c:    newParty(t, "acme-ci", "c"),
		evil: newParty(t, "evil", "e"),
	}
	k, err := NewKeyring(Composer, []string{w.core.vkey}, breakGlass)
	if err != nil {
		t.Fatal(err)
	}
	w.k = k
	return w
}

func (w *world) apply(idx uint64, ns string, action Action, key string, by ...party) {
	w.t.Helper()
	if _, err := w.k.ApplyEvent(idx, signedEvent(w.t, Composer, ns, action, key, by...)); err != nil {
		w.t.Fatalf("ApplyEvent(%d, %s %s in %s): %v", idx, action, keyID(key), ns, err)
	}
}

func (w *world) refuse(idx uint64, ns string, action Action, key string, want string, by ...party) error {
	w.t.Helper()
	before := w.k.Keys(ns)
	_, err := w.k.ApplyEvent(idx, signedEvent(w.t, Composer, ns, action, key, by...))
	if err == nil {
		w.t.Fatalf("ApplyEvent(%d, %s %s in %s) succeeded, want error containing %q", idx, action, keyID(key), ns, want)
	}
	if !strings.Contains(err.Error(), want) {
		w.t.Errorf("ApplyEvent(%d, %s %s in %s) = %q, want error containing %q", idx, action, keyID(key), ns, err, want)
	}
	if after := w.k.Keys(ns); len(after) != len(before) || len(after) > 0 && after[len(after)-1] != before[len(before)-1] {
		w.t.Errorf("refused event changed the keyring: %+v -> %+v", before, after)
	}
	return err
}

// valid checks a statement for pkg at idx, signed by by, and returns its
// signers; with want != "", it expects CheckStatement to fail so.
func (w *world) check(idx uint64, pkg string, want string, by ...party) []string {
	w.t.Helper()
	_, signers, err := w.k.CheckStatement(idx, signedStatement(w.t, Composer, pkg, "1.0.0", by...))
	switch {
	case want == "" && err != nil:
		w.t.Fatalf("CheckStatement(%d, %s): %v", idx, pkg, err)
	case want != "" && err == nil:
		w.t.Fatalf("CheckStatement(%d, %s) succeeded, want error containing %q", idx, pkg, want)
	case want != "" && !strings.Contains(err.Error(), want):
		w.t.Errorf("CheckStatement(%d, %s) = %q, want error containing %q", idx, pkg, err, want)
	}
	return signers
}

func TestKeyringVendorLifecycle(t *testing.T) {
	w := newWorld(t, true)

	// Core bootstraps acme with key a.
	w.apply(1, "acme", ActionAdd, w.a.vkey, w.core)
	if ks := w.k.Keys("acme"); len(ks) != 1 || ks[0].AddedBy != ByCore || ks[0].AddedAt != 1 || ks[0].Key != w.a.vkey {
		t.Fatalf("Keys(acme) = %+v", ks)
	}
	if !w.k.Keyed("acme") || w.k.Keyed("other") {
		t.Error("Keyed wrong")
	}
	// A statement logged before the add does not count.
	w.check(1, "acme/foo", "added to acme only at index 1", w.a)
	s2 := w.check(2, "acme/foo", "", w.a)
	if len(s2) != 1 || s2[0] != w.a.vkey {
		t.Fatalf("signers = %q", s2)
	}

	// The vendor adds a second key (same name, other key) on its own authority.
	w.apply(3, "acme", ActionAdd, w.b.vkey, w.a)
	if ks := w.k.Keys("acme"); ks[1].AddedBy != ByNamespace {
		t.Errorf("second key added by %s", ks[1].AddedBy)
	}
	s4 := w.check(4, "acme/foo", "", w.a, w.b)
	if len(s4) != 2 {
		t.Fatalf("signers = %q", s4)
	}
	s4b := w.check(4, "acme/bar", "", w.b)

	// a retires: it signs nothing new, but what it signed stays valid.
	w.apply(5, "acme", ActionRetire, w.a.vkey, w.a)
	w.check(6, "acme/foo", "retired in acme at index 5", w.a)
	if err := w.k.StatementValid(2, "acme/foo", s2); err != nil {
		t.Errorf("statement by a before its retirement: %v", err)
	}
	// A retired key signs no events either.
	w.refuse(6, "acme", ActionAdd, w.c.vkey, "not signed by a key active for acme", w.a)

	// b revokes a: every statement signed only by a dies, even earlier ones.
	w.apply(7, "acme", ActionRevoke, w.a.vkey, w.b)
	err := w.k.StatementValid(2, "acme/foo", s2)
	if err == nil || !strings.Contains(err.Error(), "acme+") || !strings.Contains(err.Error(), "revoked in acme at index 7") ||
		!strings.Contains(err.Error(), "index 2") {
		t.Errorf("statement by revoked key: %v", err)
	}
	if err := w.k.StatementValid(4, "acme/foo", s4); err != nil {
		t.Errorf("statement co-signed by a live key: %v", err)
	}
	if err := w.k.StatementValid(4, "acme/bar", s4b); err != nil {
		t.Errorf("statement by b: %v", err)
	}

	// A revoked key never comes back, in acme or a namespace it governs.
	w.refuse(8, "acme", ActionAdd, w.a.vkey, "never added again", w.b)
	w.refuse(8, "acme/foo", ActionAdd, w.a.vkey, "revoked in acme at index 7", w.b)
	// Nor is a retired one reused, and an active one is not added twice.
	w.apply(8, "acme", ActionAdd, w.c.vkey, w.b)
	w.apply(9, "acme", ActionRetire, w.c.vkey, w.b)
	w.refuse(10, "acme", ActionAdd, w.c.vkey, "not reused", w.b)
	w.refuse(10, "acme", ActionAdd, w.b.vkey, "already active in acme since index 3", w.b)
	w.refuse(10, "acme", ActionRetire, w.c.vkey, "already retired", w.b)
	w.refuse(10, "acme", ActionRevoke, w.a.vkey, "already revoked", w.b)
	// A retired key can still be revoked: its past statements then die.
	w.apply(10, "acme", ActionRevoke, w.c.vkey, w.b)

	ks := w.k.Keys("acme")
	if len(ks) != 3 || !ks[0].Retired || !ks[0].Revoked || ks[0].RevokedAt != 7 || ks[0].RevokedBy != ByNamespace || ks[1].Revoked {
		t.Errorf("Keys(acme) = %+v", ks)
	}
}

func TestKeyringBreakGlass(t *testing.T) {
	for _, allow := range []bool{false, true} {
		w := newWorld(t, allow)
		w.apply(1, "acme", ActionAdd, w.a.vkey, w.core)
		msg := signedEvent(t, Composer, "acme", ActionRevoke, w.a.vkey, w.core)
		ev, err := w.k.ApplyEvent(2, msg)
		if !allow {
			var bg *BreakGlassError
			if !errors.As(err, &bg) || bg.Index != 2 || bg.Event.Action != ActionRevoke || len(bg.Active) != 1 || bg.Active[0] != w.a.vkey {
				t.Fatalf("break-glass refused: %v (%+v)", err, bg)
			}
			for _, want := range []string{"break-glass", "index 2", "acme", w.a.id(), w.core.id()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if w.k.Keys("acme")[0].Revoked {
				t.Error("refused break-glass was applied")
			}
			// The governing vendor's keys make a package namespace's
			// first core-signed key break-glass too.
			_, err = w.k.ApplyEvent(3, signedEvent(t, Composer, "acme/foo", ActionAdd, w.c.vkey, w.core))
			if !errors.As(err, &bg) {
				t.Errorf("core add under an active vendor: %v", err)
			}
			// Signed by the vendor as well as by core, it is ordinary.
			w.apply(3, "acme/foo", ActionAdd, w.c.vkey, w.core, w.a)
			continue
		}
		if err != nil || ev.Action != ActionRevoke {
			t.Fatalf("break-glass allowed: %v", err)
		}
		if ki := w.k.Keys("acme")[0]; !ki.Revoked || ki.RevokedBy != ByBreakGlass {
			t.Errorf("Keys(acme) = %+v", ki)
		}
		// With every key revoked, core is bootstrapping again.
		w.apply(3, "acme", ActionAdd, w.b.vkey, w.core)
		if ki := w.k.Keys("acme")[1]; ki.AddedBy != ByCore {
			t.Errorf("re-bootstrap added by %s", ki.AddedBy)
		}
	}
}

func TestKeyringPackageNamespace(t *testing.T) {
	w := newWorld(t, false)
	// No vendor keys: core may bootstrap one package alone.
	w.apply(1, "acme/foo", ActionAdd, w.c.vkey, w.core)
	w.check(2, "acme/foo", "", w.c)
	w.check(2, "acme/bar", "no key is registered for acme or acme/bar", w.evil)
	w.check(2, "acme/bar", "no key is registered", w.c)
	// A package key cannot act for its vendor...
	w.refuse(3, "acme", ActionAdd, w.c.vkey, "not signed by a key active for acme", w.c)
	// ...and bootstrapping the vendor is not break-glass: acme/foo does not govern acme.
	w.apply(3, "acme", ActionAdd, w.a.vkey, w.core)
	// The vendor's keys govern the package namespace.
	w.apply(4, "acme/foo", ActionRetire, w.c.vkey, w.a)
	w.check(5, "acme/foo", "", w.a)
	// Retiring a key that is not in the namespace is an error.
	w.refuse(5, "acme/foo", ActionRetire, w.a.vkey, "not a key of acme/foo", w.a)
	w.refuse(5, "acme/foo", ActionRevoke, w.a.vkey, "not a key of acme/foo", w.a)
	if !w.k.Keyed("acme/foo") {
		t.Error("acme/foo lost its keyed state by retiring its only key")
	}
}

func TestKeyringRevocationScope(t *testing.T) {
	w := newWorld(t, false)
	victim := newParty(t, "victim", "v")
	w.apply(1, "victim", ActionAdd, victim.vkey, w.core)
	w.apply(2, "evil", ActionAdd, w.evil.vkey, w.core)
	signers := w.check(3, "victim/foo", "", victim)
	// evil adds victim's public key to its own namespace and revokes it.
	w.apply(4, "evil", ActionAdd, victim.vkey, w.evil)
	w.apply(5, "evil", ActionRevoke, victim.vkey, w.evil)
	if err := w.k.StatementValid(3, "victim/foo", signers); err != nil {
		t.Errorf("a revoke in evil killed victim's statement: %v", err)
	}
	w.check(6, "victim/foo", "", victim)

	// A revoke in one package namespace kills the key for that package only.
	w.apply(6, "victim/foo", ActionAdd, w.c.vkey, victim)
	w.apply(7, "victim/bar", ActionAdd, w.c.vkey, victim)
	foo := w.check(8, "victim/foo", "", w.c)
	bar := w.check(8, "victim/bar", "", w.c)
	w.apply(9, "victim/foo", ActionRevoke, w.c.vkey, victim)
	if err := w.k.StatementValid(8, "victim/foo", foo); err == nil {
		t.Error("revoked package key still valid for its package")
	}
	if err := w.k.StatementValid(8, "victim/bar", bar); err != nil {
		t.Errorf("revoke in victim/foo killed victim/bar: %v", err)
	}
}

func TestKeyringUnauthorized(t *testing.T) {
	w := newWorld(t, true)
	w.apply(1, "acme", ActionAdd, w.a.vkey, w.core)
	err := w.refuse(2, "acme", ActionAdd, w.evil.vkey, "not signed by a key active for acme", w.evil)
	for _, want := range []string{"index 2", "add " + w.evil.id(), "composer acme", w.evil.id() + " (not a key of acme)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	w.check(2, "acme/foo", "not signed by a key active for acme or acme/foo", w.evil)
	// The core key authorizes key events, never releases.
	w.check(2, "acme/foo", "signs key events, not releases", w.core)
	// Unknown cosignatures are ignored.
	w.check(2, "acme/foo", "", w.a, w.evil)
	// Wrong ecosystem.
	if _, err := w.k.ApplyEvent(2, signedEvent(t, NPM, "@acme", ActionAdd, w.evil.vkey, w.core)); err == nil || !strings.Contains(err.Error(), "keyring for composer") {
		t.Errorf("npm event in composer keyring: %v", err)
	}
	if _, _, err := w.k.CheckStatement(2, signedStatement(t, NPM, "@acme/foo", "1.0.0", w.a)); err == nil {
		t.Error("npm statement in composer keyring accepted")
	}
	// A tampered note fails on the signature of the key that should have signed it.
	msg := signedStatement(t, Composer, "acme/foo", "1.0.0", w.a)
	bad := []byte(strings.Replace(string(msg), "1.0.0", "1.0.1", 1))
	if _, _, err := w.k.CheckStatement(2, bad); err == nil || !strings.Contains(err.Error(), "bad signature by key "+w.a.id()) {
		t.Errorf("tampered statement: %v", err)
	}
	if _, _, err := w.k.CheckStatement(2, []byte("garbage")); err == nil || !strings.Contains(err.Error(), "malformed note") {
		t.Errorf("garbage: %v", err)
	}
	if err := w.k.StatementValid(2, "acme/foo", nil); err == nil {
		t.Error("statement without signers valid")
	}
	if err := w.k.StatementValid(2, "acme/foo", []string{w.evil.vkey}); err == nil || !strings.Contains(err.Error(), "not active") {
		t.Errorf("statement by unknown key: %v", err)
	}
}

func TestKeyringOrder(t *testing.T) {
	w := newWorld(t, true)
	w.apply(5, "acme", ActionAdd, w.a.vkey, w.core)
	w.refuse(5, "other", ActionAdd, w.b.vkey, "not in log order", w.core)
	w.refuse(3, "other", ActionAdd, w.b.vkey, "last event applied was at index 5", w.core)
	// A refused event does not consume its index: a log server refuses it
	// and gives the index to the next entry.
	w.refuse(6, "acme", ActionAdd, w.b.vkey, "not signed", w.evil)
	w.apply(6, "acme", ActionAdd, w.b.vkey, w.a)
	// CheckEvent changes nothing.
	if _, _, err := w.k.CheckEvent(7, signedEvent(t, Composer, "acme", ActionRevoke, w.b.vkey, w.a)); err != nil {
		t.Fatal(err)
	}
	if w.k.Keys("acme")[1].Revoked {
		t.Error("CheckEvent applied the event")
	}
	w.apply(7, "acme", ActionRevoke, w.b.vkey, w.a)
	// Statements may be checked after later events, at their own index.
	w.check(6, "acme/foo", "", w.a)
	w.check(7, "acme/foo", "revoked in acme at index 7", w.b)
}

func TestKeyringPins(t *testing.T) {
	w := newWorld(t, false)
	if err := w.k.Pin("acme", w.a.vkey); err != nil {
		t.Fatal(err)
	}
	if err := w.k.Pin("acme", w.a.vkey); err != nil {
		t.Errorf("pinning twice: %v", err)
	}
	if err := w.k.Pin("Acme", w.a.vkey); err == nil {
		t.Error("pin for an invalid namespace accepted")
	}
	if err := w.k.Pin("acme", w.a.skey); err == nil || strings.Contains(err.Error(), w.a.skey[len(w.a.skey)-10:]) {
		t.Errorf("pin of a signer key: %v", err)
	}
	// Active from index 0, for the namespace and its packages.
	signers := w.check(0, "acme/foo", "", w.a)
	if ks := w.k.Keys("acme"); len(ks) != 1 || ks[0].AddedBy != ByPin {
		t.Errorf("Keys(acme) = %+v", ks)
	}
	// A pinned namespace has keys: a core-signed add is break-glass.
	var bg *BreakGlassError
	if _, err := w.k.ApplyEvent(1, signedEvent(t, Composer, "acme", ActionAdd, w.b.vkey, w.core)); !errors.As(err, &bg) {
		t.Errorf("core add over a pin: %v", err)
	}
	// The pinned key may act for the namespace.
	w.apply(1, "acme", ActionAdd, w.b.vkey, w.a)
	if err := w.k.Pin("acme", w.c.vkey); err == nil || !strings.Contains(err.Error(), "before log entries") {
		t.Errorf("pin after an event: %v", err)
	}
	// A logged retire needs a logged key; a logged revoke kills the pin.
	w.refuse(2, "acme", ActionRetire, w.a.vkey, "only pinned", w.b)
	w.apply(2, "acme", ActionRevoke, w.a.vkey, w.b)
	if err := w.k.StatementValid(0, "acme/foo", signers); err == nil || !strings.Contains(err.Error(), "revoked in acme at index 2") {
		t.Errorf("pinned key after a logged revoke: %v", err)
	}
}

// Two keys with one name and hash: a signature counts for the key that
// made it, and neither can stand in for the other.
func TestVerifySigsSameNameAndHash(t *testing.T) {
	// Without a memo, and with one twice: cold, then answering from memory.
	memo := NewSigMemo(16)
	for _, m := range []*SigMemo{nil, memo, memo} {
		verifySigsSameNameAndHash(t, m)
	}
}

func verifySigsSameNameAndHash(t *testing.T, memo *SigMemo) {
	a, b := newParty(t, "acme", "a"), newParty(t, "acme", "b")
	// Pretend b collides with a: same name, same hash, other key.
	fakeB := collide{testVerifier(t, b.vkey), testVerifier(t, a.vkey)}
	signerB := collideSigner{b.s, a.s}
	text := []byte("hello\n")
	byB, err := Sign(text, signerB)
	if err != nil {
		t.Fatal(err)
	}
	cands := map[string]note.Verifier{a.vkey: testVerifier(t, a.vkey), "b-line": fakeB}
	got, err := verifySigs(byB, cands, memo)
	if err != nil || len(got) != 1 || got[0] != "b-line" {
		t.Errorf("note signed by b: %q, %v", got, err)
	}
	// Only a known: b's signature names a's key but is not a's.
	if _, err := verifySigs(byB, map[string]note.Verifier{a.vkey: testVerifier(t, a.vkey)}, memo); err == nil ||
		!strings.Contains(err.Error(), "bad signature by key "+a.id()) {
		t.Errorf("b's signature against a alone: %v", err)
	}
	byA := signWith(t, text, []party{a})
	if got, err := verifySigs(byA, cands, memo); err != nil || len(got) != 1 || got[0] != a.vkey {
		t.Errorf("note signed by a: %q, %v", got, err)
	}
}

type collide struct {
	note.Verifier
	as note.Verifier
}

func (c collide) Name() string    { return c.as.Name() }
func (c collide) KeyHash() uint32 { return c.as.KeyHash() }

type collideSigner struct {
	note.Signer
	as note.Signer
}

func (c collideSigner) Name() string    { return c.as.Name() }
func (c collideSigner) KeyHash() uint32 { return c.as.KeyHash() }

func TestNewKeyring(t *testing.T) {
	if _, err := NewKeyring("pypi", nil, true); err == nil {
		t.Error("unknown ecosystem accepted")
	}
	if _, err := NewKeyring(NPM, []string{"core+00000000+AAAA"}, true); err == nil || !strings.Contains(err.Error(), "npm core key") {
		t.Errorf("bad core key: %v", err)
	}
	k, err := NewKeyring(NPM, nil, true)
	if err != nil || k.Ecosystem() != NPM {
		t.Fatalf("NewKeyring(npm) = %v, %v", k, err)
	}
	// Without core keys nothing bootstraps; a pinned scope key still works.
	p := newParty(t, "acme", "a")
	if _, err := k.ApplyEvent(1, signedEvent(t, NPM, "@acme", ActionAdd, p.vkey, p)); err == nil {
		t.Error("self-signed add accepted")
	}
	if err := k.Pin("@acme", p.vkey); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.CheckStatement(1, signedStatement(t, NPM, "@acme/foo", "1.0.0", p)); err != nil {
		t.Error(err)
	}
	if _, _, err := k.CheckStatement(1, signedStatement(t, NPM, "foo", "1.0.0", p)); err == nil {
		t.Error("scope key signed an unscoped package")
	}
}

// FuzzKeyring feeds arbitrary notes to a keyring as key events and
// statements: it must never panic, and what it applies must be a valid,
// canonical key event.
func FuzzKeyring(f *testing.F) {
	core, a := newParty(f, "core", "1"), newParty(f, "acme", "a")
	f.Add(signedEvent(f, Composer, "acme", ActionAdd, a.vkey, core), signedStatement(f, Composer, "acme/foo", "1.0.0", a))
	f.Add(signedEvent(f, Composer, "acme/foo", ActionRevoke, a.vkey, a), signedStatement(f, Composer, "acme/bar", "2", core, a))
	f.Fuzz(func(t *testing.T, event, statement []byte) {
		k, err := NewKeyring(Composer, []string{core.vkey}, false)
		if err != nil {
			t.Fatal(err)
		}
		setup := signedEvent(t, Composer, "acme", ActionAdd, a.vkey, core)
		if _, err := k.ApplyEvent(1, setup); err != nil {
			t.Fatal(err)
		}
		if ev, err := k.ApplyEvent(2, event); err == nil {
			text, err := ev.Text()
			if err != nil {
				t.Fatalf("applied an invalid event: %v", err)
			}
			if got, _, _ := splitNote(event); string(got) != string(text) {
				t.Fatalf("applied event text %q is not canonical %q", got, text)
			}
		}
		if st, signers, err := k.CheckStatement(3, statement); err == nil {
			if len(signers) == 0 {
				t.Fatal("statement accepted without signers")
			}
			_ = k.StatementValid(3, st.Package, signers)
		}
	})
}

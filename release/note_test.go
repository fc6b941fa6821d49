package release

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// testKey returns a deterministic key pair named name, seeded by seed, so
// that tests can make two different keys with one name.
func testKey(t testing.TB, name, seed string) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := GenerateKey(bytes.NewReader(sum256(name+"\x00"+seed)), name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func testSigner(t testing.TB, skey string) note.Signer {
	t.Helper()
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testVerifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGenerateKey(t *testing.T) {
	skey, vkey, err := GenerateKey(rand.Reader, "acme.example")
	if err != nil {
		t.Fatal(err)
	}
	s := testSigner(t, skey)
	v := testVerifier(t, vkey)
	if s.Name() != "acme.example" || s.KeyHash() != v.KeyHash() {
		t.Errorf("signer %s+%08x, verifier %s+%08x", s.Name(), s.KeyHash(), v.Name(), v.KeyHash())
	}
	for _, name := range []string{"", "a+b", "a b", "a\tb", "a\u2003b", "a\x00b", "\xff", strings.Repeat("n", 200)} {
		if _, _, err := GenerateKey(rand.Reader, name); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", name)
		}
	}
}

func TestNewSignerErrorsDoNotLeak(t *testing.T) {
	skey, vkey := testKey(t, "acme", "1")
	secret := skey[strings.LastIndex(skey, "+")+1:]
	bad := []struct{ key, want string }{
		{skey + "\n", "white space"},
		{vkey, "verifier (public) key"},
		{"PRIVATE+KEY+acme", "malformed signer key"},
		{strings.Replace(skey, "PRIVATE+KEY", "PRIVATE+KEYS", 1), "malformed"},
		{skey[:len(skey)-3], "base64"},
		{strings.Replace(skey, "+acme+", "+acme+Z", 1), "hash"},
		{strings.Replace(skey, "+acme+", "+acmf+", 1), "hash does not match"},
	}
	for _, tc := range bad {
		_, err := NewSigner(tc.key)
		if err == nil {
			t.Errorf("NewSigner(%q) succeeded", tc.key)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSigner error %q does not contain %q", err, tc.want)
		}
		if strings.Contains(err.Error(), secret[:8]) || strings.Contains(err.Error(), "PRIVATE") && !strings.Contains(err.Error(), "PRIVATE+KEY+") {
			t.Errorf("NewSigner error leaks the key: %q", err)
		}
	}
	// A signer key passed as a verifier key is not echoed either.
	if _, err := NewVerifier(skey); err == nil || strings.Contains(err.Error(), secret[:8]) {
		t.Errorf("NewVerifier(signer key) = %v", err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	_, vkey := testKey(t, "acme", "1")
	name, rest, _ := strings.Cut(vkey, "+")
	hash, data, _ := strings.Cut(rest, "+")
	for _, tc := range []struct{ key, want string }{
		{"", "want NAME+HASH+BASE64"},
		{name + "+" + strings.ToUpper(hash) + "+" + data, "lowercase hex"},
		{name + "+" + hash + "+" + data[:len(data)-3], "base64"},
		{name + "+" + hash + "+AgAA", "algorithm"},
		{name + "+" + hash + "+AQAA", "want 32"},
		{"acmf+" + hash + "+" + data, "hash does not match"},
		{" " + vkey, "white space"},
	} {
		if _, err := NewVerifier(tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewVerifier(%q) = %v, want error containing %q", tc.key, err, tc.want)
		}
	}
}

func TestSignOpen(t *testing.T) {
	skey, vkey := testKey(t, "acme", "1")
	skey2, vkey2 := testKey(t, "other", "1")
	text := []byte("hello\nworld\n")
	msg, err := Sign(text, testSigner(t, skey), testSigner(t, skey2))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(msg, note.VerifierList(testVerifier(t, vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if n.Text != string(text) || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
		t.Errorf("Open = %+v", n)
	}

	// Signed only by keys we do not know: say which keys signed it.
	_, err = Open(msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) || !strings.Contains(err.Error(), keyID(vkey)) || !strings.Contains(err.Error(), keyID(vkey2)) {
		t.Errorf("Open with no known keys: %v", err)
	}

	// Altered text: the known key's signature fails, by name.
	bad := bytes.Replace(msg, []byte("world"), []byte("w0rld"), 1)
	_, err = Open(bad, note.VerifierList(testVerifier(t, vkey)))
	var invalid *note.InvalidSignatureError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "bad signature by key "+keyID(vkey)) {
		t.Errorf("Open of altered note: %v", err)
	}

	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"no signatures", text, "no signatures"},
		{"control", append([]byte("a\x01\n\n"), msg[len(text)+1:]...), "line 1: control character"},
		{"bad sig line", []byte("hello\n\n- acme AAAA\n"), `line 3 "- acme AAAA"`},
		{"short sig", []byte("hello\n\n— acme AAAA\n"), "want \"— NAME BASE64\""},
		{"no final newline", msg[:len(msg)-1], "final newline"},
		{"huge", append(bytes.Repeat([]byte("a"), MaxNoteSize), msg...), "limit"},
	} {
		if _, err := Open(tc.msg, note.VerifierList(testVerifier(t, vkey))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v, want error containing %q", tc.name, err, tc.want)
		}
	}

	for _, bad := range [][]byte{nil, []byte("no newline"), []byte("nul\x00\n")} {
		if _, err := Sign(bad, testSigner(t, skey)); err == nil {
			t.Errorf("Sign(%q) succeeded", bad)
		}
	}
	if _, err := Sign(text); err == nil {
		t.Error("Sign without signers succeeded")
	}
}

func FuzzOpen(f *testing.F) {
	skey, vkey := testKey(f, "acme", "1")
	s, _ := NewSigner(skey)
	msg, _ := Sign([]byte(lines(statementHeader, lEco, lPkg, lVer, lTree, lManifest)), s)
	f.Add(msg)
	f.Add([]byte("text\n\n— acme AAAAAAAA\n"))
	f.Add([]byte("text\n\n— other AAAAAAAAAA==\n— acme AAAAAAAAAA==\n"))
	known := note.VerifierList(testVerifier(f, vkey))
	f.Fuzz(func(t *testing.T, msg []byte) {
		n, err := Open(msg, known)
		if err != nil {
			return
		}
		// What Open accepts re-encodes to a note that opens to the same thing.
		again, err := note.Sign(n)
		if err != nil {
			t.Fatalf("re-encoding opened note: %v", err)
		}
		n2, err := Open(again, known)
		if err != nil {
			t.Fatalf("re-opening re-encoded note: %v", err)
		}
		if n2.Text != n.Text || len(n2.Sigs) != len(n.Sigs) || len(n2.UnverifiedSigs) != len(n.UnverifiedSigs) {
			t.Fatalf("re-opened note differs: %+v vs %+v", n2, n)
		}
	})
}

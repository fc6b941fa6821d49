package release

import (
	"bytes"
	"strings"
	"testing"
)

// A memo shared by keyrings changes no verdict: a replay that revokes the
// key refuses the statement the memo remembers as well signed, and an
// altered note is checked afresh.
func TestSigMemoKeepsRules(t *testing.T) {
	core, a := newParty(t, "packagist-core", "1"), newParty(t, "acme", "a")
	memo := NewSigMemo(64)
	add := signedEvent(t, Composer, "acme", ActionAdd, a.vkey, core)
	st := signedStatement(t, Composer, "acme/foo", "1.0.0", a)
	keyring := func() *Keyring {
		k, err := NewKeyring(Composer, []string{core.vkey}, true)
		if err != nil {
			t.Fatal(err)
		}
		k.UseMemo(memo)
		if _, err := k.ApplyEvent(1, add); err != nil {
			t.Fatal(err)
		}
		return k
	}

	if _, _, err := keyring().CheckStatement(3, st); err != nil {
		t.Fatalf("cold: %v", err)
	}
	if got := memo.c.Len(); got != 2 {
		t.Errorf("memo holds %d outcomes after one event and one statement, want 2", got)
	}
	if _, _, err := keyring().CheckStatement(3, st); err != nil {
		t.Fatalf("warm: %v", err)
	}

	k := keyring()
	if _, err := k.ApplyEvent(2, signedEvent(t, Composer, "acme", ActionRevoke, a.vkey, core)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.CheckStatement(3, st); err == nil || !strings.Contains(err.Error(), "not signed by a key active") {
		t.Errorf("statement by a revoked key, signature remembered: %v", err)
	}

	altered := bytes.Replace(st, []byte("1.0.0"), []byte("1.0.1"), 1)
	if _, _, err := keyring().CheckStatement(3, altered); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Errorf("altered statement with a remembered signature: %v", err)
	}
}

func TestSigMemoBounded(t *testing.T) {
	core, a := newParty(t, "packagist-core", "1"), newParty(t, "acme", "a")
	memo := NewSigMemo(3)
	k, err := NewKeyring(Composer, []string{core.vkey}, true)
	if err != nil {
		t.Fatal(err)
	}
	k.UseMemo(memo)
	if _, err := k.ApplyEvent(1, signedEvent(t, Composer, "acme", ActionAdd, a.vkey, core)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"} {
		if _, _, err := k.CheckStatement(2, signedStatement(t, Composer, "acme/foo", v, a)); err != nil {
			t.Fatal(err)
		}
	}
	if got := memo.c.Len(); got != 3 {
		t.Errorf("memo of 3 holds %d outcomes", got)
	}
}

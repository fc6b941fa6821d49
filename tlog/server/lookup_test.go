package server

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

func TestLookup(t *testing.T) {
	tl := newTestLog(t, nil)
	scope, pkgKey := newKey(t, "acme-npm"), newKey(t, "acme-foo")
	const eco = release.NPM
	tl.add(keyEvent(t, eco, "@acme", release.ActionAdd, scope.vkey, tl.core.signer))
	tl.add(keyEvent(t, eco, "@acme/foo", release.ActionAdd, pkgKey.vkey, scope.signer))
	tl.add(statement(t, eco, "@acme/foo", "1.0.0", 1, pkgKey.signer))
	tl.add(statement(t, eco, "@acme/bar", "1.0.0", 2, scope.signer))
	tl.add(keyEvent(t, eco, "@other", release.ActionAdd, pkgKey.vkey, tl.core.signer))
	tl.add(keyEvent(t, eco, "left-pad", release.ActionAdd, scope.vkey, tl.core.signer))
	tl.add(statement(t, eco, "left-pad", "1.3.0", 3, scope.signer))
	v := mustNoteVerifier(t, tl.srv.VerifierKey())

	for _, tc := range []struct {
		pkg  string
		want []uint64
	}{
		{"@acme/foo", []uint64{0, 1, 2}}, // scope key, package key, statement
		{"@acme/bar", []uint64{0, 3}},    // not @acme/foo's package key
		{"@acme/baz", []uint64{0}},       // no statement yet: the scope's events
		{"left-pad", []uint64{5, 6}},
		{"@nobody/x", nil},
	} {
		lk := tl.lookup(eco, tc.pkg)
		var got []uint64
		for _, e := range lk.Entries {
			got = append(got, e.Index)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && !slices.Equal(got, tc.want)) {
			t.Errorf("lookup %s = %v; want %v", tc.pkg, got, tc.want)
		}
		verifyLookup(t, lk, v)
	}

	// No entries is an empty list, not null.
	resp, err := http.Get(tl.http.URL + tlog.LookupPath + "npm/@nobody/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"entries":[]`) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("empty lookup = %s %q", resp.Header.Get("Content-Type"), b)
	}

	for _, p := range []string{"pypi/foo", "composer/Acme/Foo", "composer/acme", "npm/@acme", "npm/"} {
		resp, err := http.Get(tl.http.URL + tlog.LookupPath + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("lookup %s = %d %q; want 400", p, resp.StatusCode, b)
		}
	}
}

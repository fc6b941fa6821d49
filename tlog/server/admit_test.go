package server

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

func TestAdmission(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor := newKey(t, "acme-release")
	other := newKey(t, "mallory")
	const eco, pkg = release.Composer, "acme/foo"

	// Nothing is authorized before the core key adds a vendor key.
	tl.refused(statement(t, eco, pkg, "v1.0.0", 1, vendor.signer), http.StatusForbidden, "acme/foo")
	// A key event signed by a key that is not the core key is refused.
	tl.refused(keyEvent(t, eco, "acme", release.ActionAdd, other.vkey, other.signer), http.StatusForbidden, "acme")

	add := tl.add(keyEvent(t, eco, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	if add.Index != 0 || add.Existing {
		t.Errorf("first key event = %+v; want index 0", add)
	}
	st := tl.add(statement(t, eco, pkg, "v1.0.0", 1, vendor.signer))
	if st.Index != 1 {
		t.Errorf("statement index = %d; want 1", st.Index)
	}
	// An unauthorized key still cannot sign, and cannot add itself.
	tl.refused(statement(t, eco, pkg, "v1.0.1", 2, other.signer), http.StatusForbidden, "v1.0.1")
	tl.refused(keyEvent(t, eco, "acme", release.ActionAdd, other.vkey, other.signer), http.StatusForbidden, "acme")
	// Keys of one ecosystem do not sign for the other.
	tl.refused(statement(t, release.NPM, "@acme/foo", "1.0.0", 1, vendor.signer), http.StatusForbidden, "@acme/foo")

	// The vendor key may add a second key for one of its packages.
	pkgKey := newKey(t, "acme-foo-ci")
	tl.add(keyEvent(t, eco, pkg, release.ActionAdd, pkgKey.vkey, vendor.signer))
	tl.add(statement(t, eco, pkg, "v1.1.0", 3, pkgKey.signer))
	// ... which does not sign for the vendor's other packages.
	tl.refused(statement(t, eco, "acme/bar", "v1.0.0", 3, pkgKey.signer), http.StatusForbidden, "acme/bar")

	// Retire: the key signs nothing new.
	tl.add(keyEvent(t, eco, pkg, release.ActionRetire, pkgKey.vkey, vendor.signer))
	tl.refused(statement(t, eco, pkg, "v1.2.0", 4, pkgKey.signer), http.StatusForbidden, "v1.2.0")

	// Revoke, here by the core key (break glass): admitted and logged.
	tl.add(keyEvent(t, eco, "acme", release.ActionRevoke, vendor.vkey, tl.core.signer))
	tl.refused(statement(t, eco, pkg, "v1.3.0", 5, vendor.signer), http.StatusForbidden, "v1.3.0")
	// The revoked key's key events are still admitted: for a client that
	// refuses break-glass the key is active. A default client refuses
	// the event.
	late := tl.add(keyEvent(t, eco, "acme", release.ActionAdd, other.vkey, vendor.signer))
	trust, err := tlog.Evaluate(tl.entries(eco, pkg), eco, pkg, []string{tl.core.vkey}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(trust.Refused); n == 0 || trust.Refused[n-1].Index != late.Index {
		t.Errorf("refused entries = %+v; want the revoked key's event %d last", trust.Refused, late.Index)
	}

	// Lookup shows every statement and every event of the governing
	// namespaces, in log order.
	lk := tl.lookup(eco, pkg)
	var idx []uint64
	for _, e := range lk.Entries {
		idx = append(idx, e.Index)
	}
	if want := []uint64{0, 1, 2, 3, 4, 5, 6}; !slices.Equal(idx, want) {
		t.Errorf("lookup indices = %v; want %v", idx, want)
	}
}

func TestEquivocationAndIdempotence(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor := newKey(t, "acme")
	second := newKey(t, "acme-2")
	const eco, pkg = release.NPM, "@acme/foo"
	tl.add(keyEvent(t, eco, "@acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	tl.add(keyEvent(t, eco, "@acme", release.ActionAdd, second.vkey, tl.core.signer))

	first := statement(t, eco, pkg, "1.0.0", 1, vendor.signer)
	a := tl.add(first)

	// The same note again: the same index.
	b := tl.add(first)
	if b.Index != a.Index || !b.Existing {
		t.Errorf("re-add = %+v; want index %d, existing", b, a.Index)
	}
	// The same text signed by another valid key: a new entry, so that
	// the statement stays valid when either key is revoked.
	c := tl.add(statement(t, eco, pkg, "1.0.0", 1, second.signer))
	if c.Index == a.Index || c.Existing {
		t.Errorf("re-add with another signer = %+v; want a new entry", c)
	}
	// ... and again: that entry.
	if d := tl.add(statement(t, eco, pkg, "1.0.0", 1, second.signer)); d.Index != c.Index || !d.Existing {
		t.Errorf("second re-add with the other signer = %+v; want index %d, existing", d, c.Index)
	}
	// Both signers on one note add no signer: the first entry that has
	// them all... none has both, so it is new; then it is existing.
	both := statement(t, eco, pkg, "1.0.0", 1, vendor.signer, second.signer)
	e := tl.add(both)
	if e.Existing {
		t.Errorf("note with both signers = %+v; want a new entry", e)
	}
	if f := tl.add(statement(t, eco, pkg, "1.0.0", 1, second.signer)); f.Index != c.Index {
		t.Errorf("re-add with the second signer = %+v; want the first entry it signed, %d", f, c.Index)
	}
	// Other content for the same version: equivocation.
	reason := tl.refused(statement(t, eco, pkg, "1.0.0", 2, vendor.signer), http.StatusConflict, "already logged at index 2")
	// The same text signed by a key with no rights: refused, although the
	// text is logged.
	mallory := newKey(t, "mallory")
	tl.refused(statement(t, eco, pkg, "1.0.0", 1, mallory.signer), http.StatusForbidden, "not signed by a key active")
	if !strings.Contains(reason, "1.0.0") || !strings.Contains(reason, pkg) {
		t.Errorf("reason %q does not name the package and version", reason)
	}
	// A repeated key event is idempotent too.
	d := tl.add(keyEvent(t, eco, "@acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	if d.Index != 0 || !d.Existing {
		t.Errorf("re-added key event = %+v; want index 0, existing", d)
	}
}

// TestKeyEventReplay: a logged key event is public; replaying an old "add"
// after the key was retired must not bring the key back.
func TestKeyEventReplay(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor, ci := newKey(t, "acme"), newKey(t, "acme-ci")
	const eco = release.Composer
	tl.add(keyEvent(t, eco, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	addCI := keyEvent(t, eco, "acme", release.ActionAdd, ci.vkey, vendor.signer)
	first := tl.add(addCI)
	tl.add(keyEvent(t, eco, "acme", release.ActionRetire, ci.vkey, vendor.signer))

	if r := tl.add(addCI); r.Index != first.Index || !r.Existing {
		t.Errorf("replayed add = %+v; want the original index %d", r, first.Index)
	}
	tl.refused(statement(t, eco, "acme/foo", "v1.0.0", 1, ci.signer), http.StatusForbidden, "v1.0.0")
}

// TestResignAfterRevoke: the way back after a revoke. The vendor's key is
// revoked; a new key re-signs the old release's statement, which is a new
// entry that a client counts as valid.
func TestResignAfterRevoke(t *testing.T) {
	tl := newTestLog(t, nil)
	old, fresh := newKey(t, "acme"), newKey(t, "acme-2")
	const eco, pkg = release.Composer, "acme/foo"
	tl.add(keyEvent(t, eco, "acme", release.ActionAdd, old.vkey, tl.core.signer))
	first := tl.add(statement(t, eco, pkg, "v1.0.0", 1, old.signer))
	tl.add(keyEvent(t, eco, "acme", release.ActionRevoke, old.vkey, tl.core.signer))
	// The revoked key's note again: refused, although its text is logged.
	tl.refused(statement(t, eco, pkg, "v1.0.0", 1, old.signer), http.StatusForbidden, "revoked")
	tl.add(keyEvent(t, eco, "acme", release.ActionAdd, fresh.vkey, tl.core.signer))
	again := tl.add(statement(t, eco, pkg, "v1.0.0", 1, fresh.signer))
	if again.Existing || again.Index <= first.Index {
		t.Fatalf("re-signed statement = %+v; want a new entry after %d", again, first.Index)
	}
	// Other content for that version is still equivocation.
	tl.refused(statement(t, eco, pkg, "v1.0.0", 2, fresh.signer), http.StatusConflict, "different content")

	trust, err := tlog.Evaluate(tl.entries(eco, pkg), eco, pkg, []string{tl.core.vkey}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	ev := trust.Statements["v1.0.0"]
	if ev == nil || len(ev.Entries) != 1 || ev.Entries[0].Index != again.Index {
		t.Fatalf("valid evidence for v1.0.0 = %+v; want the re-signed entry %d", ev, again.Index)
	}
	if len(trust.Equivocations) != 0 {
		t.Errorf("equivocations = %v; two entries with one text are not equivocation", trust.Equivocations)
	}
}

// TestVendorRevokeAfterCoreRevoke: a vendor's own revoke after an
// identical core-signed one is its own entry, so that a client refusing
// break-glass sees the key revoked by its owner.
func TestVendorRevokeAfterCoreRevoke(t *testing.T) {
	tl := newTestLog(t, nil)
	k1, k2 := newKey(t, "acme"), newKey(t, "acme-2")
	const eco, pkg = release.Composer, "acme/foo"
	tl.add(keyEvent(t, eco, "acme", release.ActionAdd, k1.vkey, tl.core.signer))
	tl.add(keyEvent(t, eco, "acme", release.ActionAdd, k2.vkey, k1.signer))
	tl.add(statement(t, eco, pkg, "v1.0.0", 1, k1.signer))
	core := tl.add(keyEvent(t, eco, "acme", release.ActionRevoke, k1.vkey, tl.core.signer))
	own := tl.add(keyEvent(t, eco, "acme", release.ActionRevoke, k1.vkey, k2.signer))
	if own.Existing || own.Index == core.Index {
		t.Fatalf("vendor's revoke = %+v; want its own entry after the core's %d", own, core.Index)
	}
	// Replayed: the same entry.
	replay := keyEvent(t, eco, "acme", release.ActionRevoke, k1.vkey, k2.signer)
	if r := tl.add(replay); r.Index != own.Index || !r.Existing {
		t.Errorf("replayed vendor revoke = %+v; want index %d", r, own.Index)
	}
	strict, err := tlog.Evaluate(tl.entries(eco, pkg), eco, pkg, []string{tl.core.vkey}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if strict.Statements["v1.0.0"] != nil {
		t.Errorf("a client refusing break-glass still counts the revoked key's v1.0.0")
	}
	// A vendor with one key revokes it with that key, after the core
	// did: the key is still active for a client refusing break-glass, so
	// the log admits the vendor's event.
	b1 := newKey(t, "beta")
	tl.add(keyEvent(t, eco, "beta", release.ActionAdd, b1.vkey, tl.core.signer))
	tl.add(keyEvent(t, eco, "beta", release.ActionRevoke, b1.vkey, tl.core.signer))
	if self := tl.add(keyEvent(t, eco, "beta", release.ActionRevoke, b1.vkey, b1.signer)); self.Existing {
		t.Errorf("self-revoke = %+v; want a new entry", self)
	}
}

func TestMalformedAndOversized(t *testing.T) {
	tl := newTestLog(t, func(c *Config) { c.MaxNoteSize = 2048 })
	vendor := newKey(t, "acme")
	good := statement(t, release.Composer, "acme/foo", "v1.0.0", 1, vendor.signer)
	text, _ := noteText(good)

	for _, tc := range []struct {
		name   string
		msg    string
		status int
		want   string
	}{
		{"empty", "", http.StatusBadRequest, "no signatures"},
		{"text only", string(text), http.StatusBadRequest, "no signatures"},
		{"unknown type", "hello\n\n— x AAAA\n", http.StatusBadRequest, "unknown note type"},
		{"bad field", strings.Replace(string(good), "version v1.0.0", "version  v1.0.0", 1), http.StatusBadRequest, "line 4"},
		{"uppercase package", strings.Replace(string(good), "acme/foo", "Acme/foo", 1), http.StatusBadRequest, "package"},
		{"oversized", string(good) + strings.Repeat("x", 4096), http.StatusRequestEntityTooLarge, "larger than the limit of 2048 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl.refused([]byte(tc.msg), tc.status, tc.want)
		})
	}

	// Garbage signature lines on a well-formed text: the key is not
	// authorized, whatever the signature says.
	forged := append(append([]byte(nil), text...), "\n— acme AAAAAAAAAAAA\n"...)
	tl.refused(forged, http.StatusForbidden, "acme/foo")

	resp, err := http.Get(tl.http.URL + "/add")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /add = %d; want 405", resp.StatusCode)
	}
}

// TestConcurrentAdds sends conflicting and identical statements at once:
// exactly one content per version is admitted, and every identical add
// gets its index.
func TestConcurrentAdds(t *testing.T) {
	tl := newTestLog(t, nil)
	vendor := newKey(t, "acme")
	const eco, pkg = release.Composer, "acme/foo"
	tl.add(keyEvent(t, eco, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))

	const versions, contents, copies = 8, 3, 3
	type result struct {
		version, content int
		status           int
		body             string
	}
	results := make(chan result, versions*contents*copies)
	var wg sync.WaitGroup
	for v := range versions {
		for c := range contents {
			msg := statement(t, eco, pkg, "v1.0."+strconv.Itoa(v), byte(10*v+c), vendor.signer)
			for range copies {
				wg.Go(func() {
					status, body := tl.post(msg)
					results <- result{v, c, status, body}
				})
			}
		}
	}
	wg.Wait()
	close(results)
	winners := map[int]int{}
	for r := range results {
		switch r.status {
		case http.StatusOK:
			if w, ok := winners[r.version]; ok && w != r.content {
				t.Errorf("version %d: contents %d and %d both admitted", r.version, w, r.content)
			}
			winners[r.version] = r.content
		case http.StatusConflict:
		default:
			t.Errorf("version %d: %d %s", r.version, r.status, r.body)
		}
	}
	if len(winners) != versions {
		t.Errorf("%d versions admitted; want %d", len(winners), versions)
	}
	if got := len(tl.lookup(eco, pkg).Entries); got != versions+1 {
		t.Errorf("lookup has %d entries; want %d", got, versions+1)
	}
}

// FuzzAdd feeds arbitrary bodies to Add: nothing unsigned by an authorized
// key is admitted, and every refusal is a 4xx RefusedError with one line.
func FuzzAdd(f *testing.F) {
	tl := newTestLog(f, func(c *Config) { c.Logger = nil })
	vendor := newKey(f, "acme")
	f.Add(keyEvent(f, release.Composer, "acme", release.ActionAdd, vendor.vkey, vendor.signer))
	f.Add(statement(f, release.Composer, "acme/foo", "v1.0.0", 1, vendor.signer))
	f.Add([]byte("sigil-release/v1\n\n— x AAAAAAAA\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := tl.srv.Add(t.Context(), msg)
		if err == nil {
			t.Fatalf("admitted %q at %d", msg, r.Index)
		}
		var re *RefusedError
		if !errors.As(err, &re) || re.Status < 400 || re.Status >= 500 || strings.Contains(re.Reason, "\n") {
			t.Fatalf("Add(%q) = %v; want a one-line 4xx refusal", msg, err)
		}
	})
}

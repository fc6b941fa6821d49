package npm

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

const keysURL = upstreamBase + "/-/npm/v1/keys"

// sigs is a dist.signatures value: one signature by k over
// name@version:integrity.
func sigs(t testing.TB, k *regKey, name, version, integrity string) string {
	return fmt.Sprintf(`[{"keyid":%q,"sig":%q}]`, k.id, k.sign(t, name, version, integrity))
}

// signedFoo is foo whose versions the registry key k signed, except:
// 1.1.0's signature covers another integrity, 1.2.0 has none, 1.3.0 is
// signed by a key the registry does not publish.
func signedFoo(t testing.TB, k *regKey) []byte {
	other := newRegKey(t)
	i := func(v string) string { return integrityOf([]byte("foo" + v)) }
	return packumentDoc("foo", map[string]string{"latest": "1.3.0"},
		ver{v: "1.0.0", sigs: sigs(t, k, "foo", "1.0.0", i("1.0.0"))},
		ver{v: "1.1.0", sigs: sigs(t, k, "foo", "1.1.0", i("tampered"))},
		ver{v: "1.2.0"},
		ver{v: "1.3.0", sigs: sigs(t, other, "foo", "1.3.0", i("1.3.0"))},
	)
}

// served returns the served versions of a packument and the reason in
// policyRestrictions' message, if any.
func served(t testing.TB, r *rig, path string) ([]string, string, *http.Response) {
	t.Helper()
	resp, body := r.Get(path)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
	}
	doc := fronttest.DecodeObject(t, body)
	msg := ""
	if pr, ok := doc["policyRestrictions"].(map[string]any); ok {
		msg = pr["message"].(string)
	}
	return keysOf(doc["versions"]), msg, resp
}

func TestRegistrySignaturesWarn(t *testing.T) {
	k := newRegKey(t)
	r := newRig(t, withSignatures(SignaturesWarn))
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/foo", signedFoo(t, k))
	vs, msg, resp := served(t, r, "/npm/foo")
	if !reflect.DeepEqual(vs, []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"}) || msg != "" {
		t.Fatalf("warn blocked something: %v %q", vs, msg)
	}
	h := resp.Header.Get("X-Sigil-Verdict")
	for _, want := range []string{
		"warned=3",
		"foo@1.1.0: the registry signature by key " + k.id + " does not verify",
		"foo@1.2.0: the version has no registry signature",
		"foo@1.3.0: the registry signature is by key \"SHA256:",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("X-Sigil-Verdict lacks %q:\n%s", want, h)
		}
	}
	if strings.Contains(h, "foo@1.0.0") {
		t.Errorf("a valid registry signature got a reason: %s", h)
	}
	// The key set was pinned on first use.
	if got, _ := r.pins.PinNPMKeys(t.Context(), upstreamBase, nil); !maps.Equal(got, map[string]string{k.id: k.pub}) {
		t.Errorf("pinned %v", got)
	}
	// Verifications are remembered: serving again costs no ECDSA.
	if n := r.h.keys.verified.Len(); n != 2 {
		t.Errorf("%d verifications remembered, want 2 (1.0.0 and 1.1.0)", n)
	}
}

func TestRegistrySignaturesRequire(t *testing.T) {
	k := newRegKey(t)
	r := newRig(t, withSignatures(SignaturesRequire))
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/foo", signedFoo(t, k))
	r.checker.Archives[upstreamBase+"/foo/-/foo-1.0.0.tgz"] = []byte("ok")
	vs, msg, _ := served(t, r, "/npm/foo")
	if !reflect.DeepEqual(vs, []string{"1.0.0"}) {
		t.Errorf("require served %v", vs)
	}
	if !strings.Contains(msg, "foo@1.2.0: the version has no registry signature") {
		t.Errorf("message %q", msg)
	}
	// The vendor verdict and the registry's combine: both reasons.
	r.checker.set("1.1.0", policy.Warn, "foo@1.1.0: the package is unsigned")
	_, msg, _ = served(t, r, "/npm/foo")
	if !strings.Contains(msg, "foo@1.1.0: the package is unsigned; foo@1.1.0: the registry signature by key") {
		t.Errorf("combined reasons: %q", msg)
	}

	// Tarballs: refused without a download, served when signed.
	resp, body := r.Get("/npm/foo/-/foo-1.2.0.tgz")
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "no registry signature") {
		t.Errorf("unsigned tarball: %d %s", resp.StatusCode, body)
	}
	// The Checker decides with the registry evidence, before any download
	// (the Verifier decides the metadata first).
	for _, f := range r.checker.ArchFacts {
		if f.Version == "1.2.0" && (len(f.Registry.Problems) == 0 || !f.Registry.Required) {
			t.Errorf("the Checker was asked for 1.2.0 without the registry evidence: %+v", f.Registry)
		}
	}
	if resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz"); resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("signed tarball: %d %s", resp.StatusCode, body)
	}
}

func TestRegistrySignaturesRequireWarnMode(t *testing.T) {
	k := newRegKey(t)
	// Warn mode serves everything, require or not ...
	r := newRig(t, withSignatures(SignaturesRequire), withMode(policy.ModeWarn))
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/foo", signedFoo(t, k))
	if vs, _, resp := served(t, r, "/npm/foo"); len(vs) != 4 || !strings.Contains(resp.Header.Get("X-Sigil-Verdict"), "warned=3") {
		t.Errorf("warn mode with require: %v %s", vs, resp.Header.Get("X-Sigil-Verdict"))
	}
	// ... and so does a package a policy rule puts in warn mode.
	r = newRig(t, withSignatures(SignaturesRequire))
	r.checker.Policy = &policy.Config{Rules: []policy.Rule{{Package: "foo", Mode: policy.ModeWarn}}}
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/foo", signedFoo(t, k))
	if vs, _, _ := served(t, r, "/npm/foo"); len(vs) != 4 {
		t.Errorf("rule in warn mode with require: %v", vs)
	}
}

func TestRegistryKeyExpiry(t *testing.T) {
	k := newRegKey(t)
	r := newRig(t, withSignatures(SignaturesRequire))
	// The key signs what was published before 2024-01-02.
	r.up.Set(keysURL, keysDoc([]*regKey{k}, "2024-01-02T00:00:00.000Z"))
	i := func(v string) string { return integrityOf([]byte("foo" + v)) }
	r.up.Set(upstreamBase+"/foo", packumentDoc("foo", nil,
		ver{v: "1.0.0", sigs: sigs(t, k, "foo", "1.0.0", i("1.0.0")), time: "2024-01-01T10:00:00.000Z"},
		ver{v: "1.1.0", sigs: sigs(t, k, "foo", "1.1.0", i("1.1.0")), time: "2024-01-03T10:00:00.000Z"},
		ver{v: "1.2.0", sigs: sigs(t, k, "foo", "1.2.0", i("1.2.0")), time: "yesterday"},
	))
	vs, msg, _ := served(t, r, "/npm/foo")
	if !reflect.DeepEqual(vs, []string{"1.0.0"}) {
		t.Errorf("served %v", vs)
	}
	if !strings.Contains(msg, "foo@1.1.0: the registry signature is by key "+k.id+", which expired at 2024-01-02T00:00:00Z, before the version was published") {
		t.Errorf("message %q", msg)
	}
}

func TestRegistrySignatureOfOldVersions(t *testing.T) {
	// Before npm recorded dist.integrity, the registry signs the shasum
	// as an SRI, and pacote verifies that; a version with no publish time
	// counts as published in 2015.
	k := newRegKey(t)
	r := newRig(t, withSignatures(SignaturesRequire))
	r.up.Set(keysURL, keysDoc([]*regKey{k}, "2020-01-01T00:00:00Z"))
	shasum := strings.Repeat("ab", 20)
	raw, _ := hex.DecodeString(shasum)
	sri := "sha1-" + base64.StdEncoding.EncodeToString(raw)
	r.up.Set(upstreamBase+"/old", `{"name":"old","versions":{"0.1.0":{"name":"old","version":"0.1.0","dist":{"shasum":"`+shasum+`","tarball":"`+upstreamBase+`/old/-/old-0.1.0.tgz","signatures":`+sigs(t, k, "old", "0.1.0", sri)+`}}}}`)
	if vs, msg, _ := served(t, r, "/npm/old"); len(vs) != 1 {
		t.Errorf("served %v: %s", vs, msg)
	}
	if f := r.checker.Facts[0][0]; f.Integrity != "" {
		t.Errorf("facts carry integrity %q from a shasum", f.Integrity)
	}
}

// resetKeys makes the next request read the keys document again.
func resetKeys(r *rig) {
	r.h.keys.mu.Lock()
	r.h.keys.until = time.Time{}
	r.h.keys.mu.Unlock()
}

func TestRegistryKeyChange(t *testing.T) {
	k := newRegKey(t)
	r := newRig(t, withSignatures(SignaturesRequire))
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/foo", signedFoo(t, k))
	if vs, _, _ := served(t, r, "/npm/foo"); !reflect.DeepEqual(vs, []string{"1.0.0"}) {
		t.Fatalf("before the change: %v", vs)
	}

	// The registry now publishes other material under the pinned key ID,
	// and a new key: every version is reported, and in require blocked;
	// the signatures still verify only with the pinned key.
	impostor := newRegKey(t)
	impostor.id = k.id
	added := newRegKey(t)
	r.up.Set(keysURL, keysDoc([]*regKey{impostor, added}))
	resetKeys(r)
	vs, msg, _ := served(t, r, "/npm/foo")
	if len(vs) != 0 {
		t.Errorf("served %v after a key change", vs)
	}
	want := "foo@1.0.0: the registry's signing keys differ from those sigil pinned on first use: key " + k.id + " is published with other key material"
	if !strings.Contains(msg, want) {
		t.Errorf("message lacks %q:\n%s", want, msg)
	}
	// The message names the command that resets the pins.
	if hint := "run 'sigil cache reset-registry-keys' with its --cache-dir"; !strings.Contains(msg, hint) {
		t.Errorf("message lacks %q:\n%s", hint, msg)
	}
	pinned, _ := r.pins.PinNPMKeys(t.Context(), upstreamBase, nil)
	if !maps.Equal(pinned, map[string]string{k.id: k.pub, added.id: added.pub}) {
		t.Errorf("pins %v: the pinned key must stay, the new one be added", pinned)
	}

	// In warn, the change is a warning on every version.
	r.h.sigMode = SignaturesWarn
	vs, _, resp := served(t, r, "/npm/foo")
	if len(vs) != 4 || !strings.Contains(resp.Header.Get("X-Sigil-Verdict"), "warned=4") {
		t.Errorf("warn after a key change: %v %s", vs, resp.Header.Get("X-Sigil-Verdict"))
	}

	// A pinned key that is no longer published.
	r.up.Set(keysURL, keysDoc([]*regKey{added}))
	resetKeys(r)
	_, _, resp = served(t, r, "/npm/foo")
	if h := resp.Header.Get("X-Sigil-Verdict"); !strings.Contains(h, "key "+k.id+", pinned on first use, is no longer published") {
		t.Errorf("X-Sigil-Verdict %s", h)
	}
}

func TestRegistryWithoutKeys(t *testing.T) {
	// A registry that does not sign (its keys document is not found):
	// nothing to warn about in warn, everything blocked in require.
	r := newRig(t, withSignatures(SignaturesWarn))
	r.up.Set(upstreamBase+"/foo", packumentDoc("foo", nil, ver{v: "1.0.0"}, ver{v: "1.1.0"}))
	r.up.Set(upstreamBase+"/foo2", packumentDoc("foo2", nil, ver{v: "1.0.0", sigs: `[{"keyid":"SHA256:k","sig":"AAAA"}]`}))
	if _, _, resp := served(t, r, "/npm/foo"); resp.Header.Get("X-Sigil-Verdict") != "" {
		t.Errorf("warned about a registry that does not sign: %s", resp.Header.Get("X-Sigil-Verdict"))
	}
	if _, _, resp := served(t, r, "/npm/foo2"); !strings.Contains(resp.Header.Get("X-Sigil-Verdict"), "which the registry does not publish") {
		t.Errorf("a signature by an unknown key: %s", resp.Header.Get("X-Sigil-Verdict"))
	}
	r.h.sigMode = SignaturesRequire
	if vs, msg, _ := served(t, r, "/npm/foo"); len(vs) != 0 || !strings.Contains(msg, "the registry publishes no signing keys") {
		t.Errorf("require without keys: %v %q", vs, msg)
	}

	// Keys that cannot be fetched, and none pinned: no signature can be
	// checked.
	r = newRig(t, withSignatures(SignaturesWarn))
	r.up.Set(upstreamBase+"/foo", fooDoc())
	r.up.Errs[keysURL] = &proxy.UpstreamError{URL: keysURL, Status: 503}
	if _, _, resp := served(t, r, "/npm/foo"); !strings.Contains(resp.Header.Get("X-Sigil-Verdict"), "the registry's signature cannot be checked") {
		t.Errorf("keys unavailable: %s", resp.Header.Get("X-Sigil-Verdict"))
	}
	// Once pinned, an unreachable keys document costs nothing: the pins
	// verify.
	k := newRegKey(t)
	r = newRig(t, withSignatures(SignaturesRequire))
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/foo", signedFoo(t, k))
	served(t, r, "/npm/foo")
	r.up.Errs[keysURL] = &proxy.UpstreamError{URL: keysURL, Status: 503}
	resetKeys(r)
	if vs, _, _ := served(t, r, "/npm/foo"); !reflect.DeepEqual(vs, []string{"1.0.0"}) {
		t.Errorf("pinned keys with the keys document down: %v", vs)
	}
}

func TestParseKeys(t *testing.T) {
	k := newRegKey(t)
	got, err := parseKeys([]byte(keysDoc([]*regKey{k}, "2025-01-29T00:00:00.000Z")))
	if err != nil || got[k.id].key != k.pub || !got[k.id].expires.Equal(time.Date(2025, 1, 29, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("parseKeys = %v, %v", got, err)
	}
	// An unreadable expiry verifies nothing, as npm's NaN.
	got, _ = parseKeys([]byte(keysDoc([]*regKey{k}, "soon")))
	if e := got[k.id].expires; e.IsZero() || e.After(time.Unix(1, 0)) {
		t.Errorf("expires %v", e)
	}
	// Other key types are left out; they verify nothing.
	got, err = parseKeys([]byte(`{"keys":[{"keyid":"x","keytype":"ed25519","key":"AAAA"}]}`))
	if err != nil || len(got) != 0 {
		t.Errorf("other key type: %v, %v", got, err)
	}
	for _, bad := range []string{`{}`, `{"keys":{}}`, `{"keys":[{"keyid":"x"}]}`, `{"keys":[{"keyid":"x","keytype":"ecdsa-sha2-nistp256","key":"AAAA"}]}`, `[`} {
		if _, err := parseKeys([]byte(bad)); err == nil {
			t.Errorf("parseKeys(%s) succeeded", bad)
		}
	}
}

// TestRegistryKeyExpiryKept: a keys document that cannot be read (an
// upstream that answers garbage) does not lift the expiry sigil read
// before: a signature by the expired key on a version published after it
// stays refused.
func TestRegistryKeyExpiryKept(t *testing.T) {
	k := newRegKey(t)
	r := newRig(t, withSignatures(SignaturesRequire))
	r.up.Set(keysURL, keysDoc([]*regKey{k}, "2024-01-02T00:00:00.000Z"))
	i := func(v string) string { return integrityOf([]byte("foo" + v)) }
	r.up.Set(upstreamBase+"/foo", packumentDoc("foo", nil,
		ver{v: "1.0.0", sigs: sigs(t, k, "foo", "1.0.0", i("1.0.0")), time: "2024-01-01T10:00:00.000Z"},
		ver{v: "1.1.0", sigs: sigs(t, k, "foo", "1.1.0", i("1.1.0")), time: "2024-01-03T10:00:00.000Z"},
	))
	if vs, _, _ := served(t, r, "/npm/foo"); !reflect.DeepEqual(vs, []string{"1.0.0"}) {
		t.Fatalf("with the keys document: served %v", vs)
	}
	r.up.Set(keysURL, `{"keys":`)
	resetKeys(r)
	vs, msg, _ := served(t, r, "/npm/foo")
	if !reflect.DeepEqual(vs, []string{"1.0.0"}) || !strings.Contains(msg, "which expired at 2024-01-02T00:00:00Z") {
		t.Errorf("keys document unreadable: served %v, message %q", vs, msg)
	}
}

package npm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
	"github.com/sigilproxy/sigil/release"
)

func tarballRig(t *testing.T, opts ...rigOption) (*rig, []byte) {
	r := newRig(t, opts...)
	r.up.Set(upstreamBase+"/foo", fooDoc())
	tgz := []byte("the tarball of foo 1.0.0")
	r.checker.Archives[upstreamBase+"/foo/-/foo-1.0.0.tgz"] = tgz
	return r, tgz
}

func TestTarballServed(t *testing.T) {
	r, tgz := tarballRig(t)
	r.Get("/npm/foo")
	resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz")
	if resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
		t.Fatalf("status %d: %q", resp.StatusCode, body)
	}
	sum := sha256.Sum256(tgz)
	if ct, et, cc := resp.Header.Get("Content-Type"), resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"); ct != "application/octet-stream" || et != `"`+hex.EncodeToString(sum[:])+`"` || cc != "no-cache" {
		t.Errorf("headers %q %q %q", ct, et, cc)
	}
	if lm := resp.Header.Get("Last-Modified"); lm != fronttest.ArchiveTime.Format(http.TimeFormat) {
		t.Errorf("Last-Modified %q", lm)
	}
	// The facts are the packument's; the packument was fetched once.
	if len(r.checker.ArchFacts) != 1 || !reflect.DeepEqual(r.checker.ArchFacts[0], r.checker.Facts[0][0]) {
		t.Errorf("archive facts %+v, packument facts %+v", r.checker.ArchFacts, r.checker.Facts[0][0])
	}
	if n := len(r.up.URLs()); n != 1 {
		t.Errorf("upstream asked %d times", n)
	}
	if resp, body := r.Do(http.MethodHead, "/npm/foo/-/foo-1.0.0.tgz", nil); resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(tgz)) {
		t.Errorf("HEAD: %d, %d bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	if resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz", "Range: bytes=4-10"); resp.StatusCode != http.StatusPartialContent || string(body) != string(tgz[4:11]) {
		t.Errorf("Range: %d %q", resp.StatusCode, body)
	}
	if resp, _ := r.Get("/npm/foo/-/foo-1.0.0.tgz", "If-None-Match: "+resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
}

func TestTarballWithoutPackument(t *testing.T) {
	// npm ci reads tarball URLs from the lockfile and asks for no
	// packument first.
	r, tgz := tarballRig(t)
	resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz")
	if resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
		t.Fatalf("status %d: %q", resp.StatusCode, body)
	}
	if got := r.up.URLs(); len(got) != 1 || got[0] != upstreamBase+"/foo" {
		t.Errorf("upstream asked %v", got)
	}
	if r.checker.ArchFacts[0].ArchiveURL != upstreamBase+"/foo/-/foo-1.0.0.tgz" {
		t.Errorf("archive URL %q", r.checker.ArchFacts[0].ArchiveURL)
	}
}

func TestTarballRefused(t *testing.T) {
	r, _ := tarballRig(t)
	r.checker.set("1.0.0", policy.Block, "foo@1.0.0: the archive's tree hash differs from the signed tree")
	resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz")
	// npm prints "410 Gone - GET <url> - <error>".
	if resp.StatusCode != http.StatusGone || resp.Header.Get("Content-Type") != "application/json" ||
		string(body) != `{"error":"sigil blocked: foo@1.0.0: the archive's tree hash differs from the signed tree"}`+"\n" {
		t.Errorf("blocked: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	// A version the packument does not have.
	resp, body = r.Get("/npm/foo/-/foo-9.9.9.tgz")
	if resp.StatusCode != 404 || !bytes.Contains(body, []byte(`"error":"sigil: foo@9.9.9 is not in the upstream's metadata"`)) {
		t.Errorf("unknown version: %d %s", resp.StatusCode, body)
	}
	// A version whose tarball the upstream does not have.
	resp, body = r.Get("/npm/foo/-/foo-1.1.0.tgz")
	if resp.StatusCode != 404 || !bytes.Contains(body, []byte("the upstream has no tarball for foo@1.1.0")) {
		t.Errorf("no tarball upstream: %d %s", resp.StatusCode, body)
	}
	// A package the upstream does not have.
	if resp, _ := r.Get("/npm/nope/-/nope-1.0.0.tgz"); resp.StatusCode != 404 {
		t.Errorf("unknown package: %d", resp.StatusCode)
	}
	// The upstream fails.
	r.up.Errs[upstreamBase+"/bar"] = &proxy.UpstreamError{URL: upstreamBase + "/bar", Status: 500}
	if resp, body := r.Get("/npm/bar/-/bar-1.0.0.tgz"); resp.StatusCode != http.StatusBadGateway || !bytes.Contains(body, []byte(`"error":"sigil could not serve`)) {
		t.Errorf("upstream failure: %d %s", resp.StatusCode, body)
	}
}

func TestTarballOfMalformedVersion(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", `{"name":"foo","versions":{"1.0.0":{"name":"evil","version":"1.0.0","dist":{"tarball":"`+upstreamBase+`/x.tgz"}}}}`)
	resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz")
	if resp.StatusCode != http.StatusGone || !bytes.Contains(body, []byte(`names package \"evil\"`)) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if len(r.checker.ArchFacts) != 0 {
		t.Error("the Checker was asked for a malformed version's archive")
	}
}

func TestTarballWarn(t *testing.T) {
	r, tgz := tarballRig(t, withMode(policy.ModeWarn))
	r.checker.set("1.0.0", policy.Warn, "foo@1.0.0: unsigned")
	resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz")
	if resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if h := resp.Header.Get("X-Sigil-Verdict"); h != "warn; warned=1; foo@1.0.0: unsigned" {
		t.Errorf("X-Sigil-Verdict %q", h)
	}
	// What npm prints ("npm notice ..."), from a response it does not
	// store (it prints no notice from a stored one).
	if n := resp.Header.Get("npm-notice"); n != "sigil served foo@1.0.0 with a warning: foo@1.0.0: unsigned" {
		t.Errorf("npm-notice %q", n)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

func TestTarballPaths(t *testing.T) {
	for _, c := range []struct{ name, file, version string }{
		{"foo", "foo-1.0.0.tgz", "1.0.0"},
		{"foo", "foo-1.0.0-rc.1+build.5.tgz", "1.0.0-rc.1+build.5"},
		{"foo-bar", "foo-bar-2.0.0.tgz", "2.0.0"},
		{"@acme/foo", "foo-1.0.0.tgz", "1.0.0"},
		{"foo", "foo-1.0.0%2Bb.tgz", "1.0.0+b"},
	} {
		v, ok := tarballVersion(c.name, c.file)
		if !ok || v != c.version {
			t.Errorf("tarballVersion(%s, %s) = %q, %v", c.name, c.file, v, ok)
		}
		// sigil's own paths read back.
		p := tarballPath(c.name, c.version)
		name, rest, ok := splitPackagePath(p[1:])
		if !ok || name != c.name {
			t.Errorf("splitPackagePath(%s) = %q, %v", p, name, ok)
			continue
		}
		if v, ok := tarballVersion(name, strings.TrimPrefix(rest, "/-/")); !ok || v != c.version {
			t.Errorf("%s reads back as %q, %v", p, v, ok)
		}
	}
	for _, c := range []struct{ name, file string }{
		{"foo", "bar-1.0.0.tgz"}, {"foo", "foo-1.0.0.tar"}, {"foo", "foo-.tgz"}, {"foo", "foo-a%2fb.tgz"},
		{"foo", "foo-%zz.tgz"}, {"@acme/foo", "acme-foo-1.0.0.tgz"},
	} {
		if v, ok := tarballVersion(c.name, c.file); ok {
			t.Errorf("tarballVersion(%s, %s) = %q", c.name, c.file, v)
		}
	}
}

// TestUnsignedWarnOneNotice: under unsigned = warn, a package that is only
// unsigned gets one npm-notice, the package's, with its packument; its
// tarballs add no notice and stay storable by npm; the front logs nothing
// (the Checker's one "package decision" line says it). A real problem on
// a tarball is still told with it (TestTarballWarn).
func TestUnsignedWarnOneNotice(t *testing.T) {
	log, lines := fronttest.CaptureLog()
	r, tgz := tarballRig(t, func(c *Config) { c.Logger = log })
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0", "2.1.0-beta.1"} {
		r.checker.Set(v, fronttest.UnsignedWarn(release.NPM, "foo", v))
	}
	const want = "sigil: foo: the package is unsigned: no key was ever registered for foo; served under the unsigned = warn policy"
	resp, _ := r.Get("/npm/foo")
	if n := resp.Header.Get("npm-notice"); n != want {
		t.Errorf("packument npm-notice %q, want %q", n, want)
	}
	if h := resp.Header.Get("X-Sigil-Verdict"); h != "enforce; blocked=0; warned=4; "+want[len("sigil: "):] {
		t.Errorf("X-Sigil-Verdict %q: the notice is listed once", h)
	}
	// The same install reads the packument again, in the other form.
	resp, _ = r.Get("/npm/foo", corgiAccept)
	if n := resp.Header.Get("npm-notice"); n != "" {
		t.Errorf("the abbreviated packument says it again: %q", n)
	}
	for range 2 {
		resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz")
		if resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if n := resp.Header.Get("npm-notice"); n != "" {
			t.Errorf("the tarball carries a notice: %q", n)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("Cache-Control %q, want no-cache, as any verified tarball", cc)
		}
		if h := resp.Header.Get("X-Sigil-Verdict"); !strings.HasPrefix(h, "enforce; warned=1; foo: the package is unsigned") {
			t.Errorf("X-Sigil-Verdict %q", h)
		}
	}
	if l := lines.String(); l != "" {
		t.Errorf("the front logged:\n%s", l)
	}
}

package composer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
	"github.com/sigilproxy/sigil/release"
)

// distRig serves acme/foo v1.0.0 (zip) and dev-main (tar, in ~dev.json).
func distRig(t *testing.T) *rig {
	r := newRig(t)
	setupFoo(r)
	r.up.Set(upstreamBase+"/p2/acme/foo~dev.json", `{"packages":{"acme/foo":[{"name":"acme/foo","version":"dev-main","dist":{"type":"tar","url":"https://archives.test/main.tar","reference":"d1"}}]}}`)
	r.checker.Archives["https://archives.test/acme/foo/zipball/c10"] = []byte("PK zip bytes of 1.0.0")
	r.checker.Archives["https://archives.test/main.tar"] = []byte("tar bytes of main")
	return r
}

func TestDistServe(t *testing.T) {
	r := distRig(t)
	resp, body := r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip")
	if resp.StatusCode != 200 || string(body) != "PK zip bytes of 1.0.0" {
		t.Fatalf("status %d: %q", resp.StatusCode, body)
	}
	sum := sha256.Sum256(body)
	for k, want := range map[string]string{
		"Content-Type":  "application/zip",
		"ETag":          `"` + hex.EncodeToString(sum[:]) + `"`,
		"Last-Modified": fronttest.ArchiveTime.Format(http.TimeFormat),
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// The checker was asked with the facts from the metadata: the URL
	// it fetches is the upstream's, learned there.
	f := r.checker.ArchFacts[0]
	if f.ArchiveURL != "https://archives.test/acme/foo/zipball/c10" || f.Version != "v1.0.0" || f.Package != "acme/foo" || f.Manifest == "" {
		t.Errorf("facts %+v", f)
	}
	resp, _ = r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip", "If-None-Match: "+resp.Header.Get("ETag"))
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, body = r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip", "Range: bytes=0-1")
	if resp.StatusCode != 206 || string(body) != "PK" {
		t.Errorf("range: %d %q", resp.StatusCode, body)
	}
	resp, body = r.Do(http.MethodHead, "/composer/dists/acme/foo/v1.0.0/c10.zip", nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d", resp.StatusCode)
	}
	// dev versions are found in the ~dev file.
	resp, body = r.Get("/composer/dists/acme/foo/dev-main/d1.tar")
	if resp.StatusCode != 200 || string(body) != "tar bytes of main" || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Errorf("dev tar: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
}

func TestDistWarn(t *testing.T) {
	r := distRig(t)
	r.checker.set("v1.0.0", policy.Warn, false, "acme/foo@v1.0.0: the archive's tree hash differs")
	// First the reason, where Composer prints it and retries...
	resp, body := r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip")
	if resp.StatusCode != http.StatusTooEarly || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(body), `"warning":"sigil serves this archive with a warning: acme/foo@v1.0.0: the archive's tree hash differs"`) {
		t.Errorf("first GET: %d %s", resp.StatusCode, body)
	}
	// ...then the archive.
	resp, _ = r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("X-Sigil-Verdict"), "acme/foo@v1.0.0: the archive's tree hash differs") {
		t.Errorf("retry: %d %q", resp.StatusCode, resp.Header.Get("X-Sigil-Verdict"))
	}
	// An allowed archive is served at once.
	r.checker.set("v1.0.0", policy.Allow, false)
	r.h.warned.Purge()
	if resp, _ := r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip"); resp.StatusCode != 200 {
		t.Errorf("allowed: %d", resp.StatusCode)
	}
}

// TestDistUnsignedWarnServedAtOnce: the unsigned = warn notice alone is
// the package's, told by its metadata; its archives are served at once,
// with no 425 and no warning for Composer to print.
func TestDistUnsignedWarnServedAtOnce(t *testing.T) {
	r := distRig(t)
	r.checker.Set("v1.0.0", fronttest.UnsignedWarn(release.Composer, "acme/foo", "v1.0.0"))
	resp, body := r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip")
	if resp.StatusCode != 200 || string(body) != "PK zip bytes of 1.0.0" {
		t.Fatalf("first GET: %d %s", resp.StatusCode, body)
	}
	if hv := resp.Header.Get("X-Sigil-Verdict"); !strings.HasPrefix(hv, "enforce; warned=1; acme/foo: the package is unsigned") {
		t.Errorf("X-Sigil-Verdict %q", hv)
	}
}

func TestDistBlocked(t *testing.T) {
	r := distRig(t)
	r.checker.set("v1.0.0", policy.Block, false, "acme/foo@v1.0.0: archive tree h1:x differs from the statement's h1:y")
	resp, body := r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip")
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Exactly application/json: Composer prints "warning" only then.
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	got := fronttest.DecodeObject(t, body)
	if len(got) != 1 || got["warning"] != "sigil blocked: acme/foo@v1.0.0: archive tree h1:x differs from the statement's h1:y" {
		t.Errorf("body %s", body)
	}
}

func TestDistErrors(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		setup      func(*rig)
		status     int
		msg        string
	}{
		{name: "unknown version", path: "/composer/dists/acme/foo/9.9.9/c10.zip", status: 404, msg: "has no archive"},
		{name: "unknown package", path: "/composer/dists/acme/nope/1.0.0/c10.zip", status: 404, msg: "has no archive"},
		{name: "stale segment", path: "/composer/dists/acme/foo/v1.0.0/c9.zip", status: 404, msg: "no longer names"},
		{name: "wrong type", path: "/composer/dists/acme/foo/v1.0.0/c10.tar", status: 404, msg: "no longer names"},
		{name: "archive missing upstream", path: "/composer/dists/acme/foo/v1.0.0/c10.zip", status: 404, msg: "no archive",
			setup: func(r *rig) { delete(r.checker.Archives, "https://archives.test/acme/foo/zipball/c10") }},
		{name: "download failed", path: "/composer/dists/acme/foo/v1.0.0/c10.zip", status: 502, msg: "tls: handshake failure",
			setup: func(r *rig) {
				r.checker.ArchErr["v1.0.0"] = &proxy.UpstreamError{URL: "https://archives.test/x", Err: errors.New("tls: handshake failure")}
			}},
		{name: "cache failed", path: "/composer/dists/acme/foo/v1.0.0/c10.zip", status: 500, msg: "disk full",
			setup: func(r *rig) { r.checker.ArchErr["v1.0.0"] = errors.New("disk full") }},
		{name: "metadata down", path: "/composer/dists/acme/foo/v1.0.0/c10.zip", status: 502, msg: "timeout",
			setup: func(r *rig) {
				r.up.Errs[upstreamBase+"/p2/acme/foo.json"] = &proxy.UpstreamError{URL: upstreamBase + "/p2/acme/foo.json", Err: errors.New("timeout")}
			}},
		{name: "blocked is not 403", path: "/composer/dists/acme/foo/v1.0.0/c10.zip", status: 410, msg: "blocked",
			setup: func(r *rig) {
				r.checker.ArchErr["v1.0.0"] = &proxy.BlockedError{Verdict: policy.Verdict{Action: policy.Block, Reasons: []string{"blocked"}}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := distRig(t)
			if tc.setup != nil {
				tc.setup(r)
			}
			resp, body := r.Get(tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if w, _ := fronttest.DecodeObject(t, body)["warning"].(string); !strings.Contains(w, tc.msg) {
				t.Errorf("warning %q lacks %q", w, tc.msg)
			}
		})
	}
}

// TestDistOnlyLearnedURLs: whatever the path says, sigil only ever asks
// for the learned metadata URLs, and the checker only for archive URLs
// taken from that metadata.
func TestDistOnlyLearnedURLs(t *testing.T) {
	r := distRig(t)
	for _, p := range []string{
		"/composer/dists/acme/foo/https:%2F%2Fevil.test%2Fx.zip/c10.zip",
		"/composer/dists/acme/foo/v1.0.0%2F..%2F..%2Fx/c10.zip",
		"/composer/dists/acme/foo/%2Fetc%2Fpasswd/c10.zip",
		"/composer/dists/acme/foo/v1.0.0/c10.zip?url=https://evil.test/x.zip",
		"/composer/dists/acme/foo/v1.0.0/c10.zip",
	} {
		r.Get(p)
	}
	for _, u := range r.up.URLs() {
		switch u {
		case upstreamBase + "/packages.json", upstreamBase + "/p2/acme/foo.json", upstreamBase + "/p2/acme/foo~dev.json":
		default:
			t.Errorf("upstream asked for %s", u)
		}
	}
	for _, f := range r.checker.ArchFacts {
		if f.ArchiveURL != "https://archives.test/acme/foo/zipball/c10" {
			t.Errorf("checker asked for %s", f.ArchiveURL)
		}
	}
	if len(r.checker.ArchFacts) != 2 {
		t.Errorf("checker asked %d times, want 2", len(r.checker.ArchFacts))
	}
}

func TestParseDistPath(t *testing.T) {
	ok := map[string]distReq{
		"acme/foo/1.0.0/abc.zip":             {"acme/foo", "1.0.0", "abc", "zip"},
		"acme/foo/dev-a%2Fb/abc.def.tar":     {"acme/foo", "dev-a/b", "abc.def", "tar"},
		"acme/foo/1.0.0+build%20x/u0123.zip": {"acme/foo", "1.0.0+build x", "u0123", "zip"},
	}
	for p, want := range ok {
		got, valid := parseDistPath(p)
		if !valid || got != want {
			t.Errorf("%q: %+v %v", p, got, valid)
		}
	}
	for _, p := range []string{
		"", "acme/foo/1.0.0", "acme/foo/1.0.0/abc", "acme/foo//abc.zip", "acme/foo/../abc.zip",
		"acme/foo/./abc.zip", "acme/foo/1.0.0/.abc.zip", "acme/foo/1.0.0/a%2Fb.zip", "acme/foo/1.0.0/abc.rar",
		"ACME/foo/1.0.0/abc.zip", "acme/foo/%zz/abc.zip", "acme/foo/%00/abc.zip", "acme/foo/" + strings.Repeat("1", 256) + "/abc.zip",
		"acme/foo/%ff/abc.zip",
	} {
		if got, valid := parseDistPath(p); valid {
			t.Errorf("%q accepted as %+v", p, got)
		}
	}
}

// TestDistReusesMetadata: the archive request that follows a metadata
// request costs no second upstream fetch, yet is still decided anew.
func TestDistReusesMetadata(t *testing.T) {
	r := distRig(t)
	r.Get("/composer/p2/acme/foo.json")
	before := len(r.up.URLs())
	r.checker.set("v1.0.0", policy.Block, false, "acme/foo@v1.0.0: revoked a second ago")
	resp, _ := r.Get("/composer/dists/acme/foo/v1.0.0/c10.zip")
	if n := len(r.up.URLs()); n != before {
		t.Errorf("upstream asked again: %v", r.up.URLs()[before:])
	}
	if resp.StatusCode != http.StatusGone {
		t.Errorf("status %d: the verdict must not be cached", resp.StatusCode)
	}
}

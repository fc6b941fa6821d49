package composer

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

func forwardRig(t *testing.T, learned proxy.MetaStore) *rig {
	t.Helper()
	r := newRig(t, func(c *Config) { c.Forward = true; c.Prefix = "/"; c.Learned = learned })
	setupFoo(r)
	for _, ref := range []string{"c2", "c11", "c10"} {
		r.checker.Archives["https://archives.test/acme/foo/zipball/"+ref] = []byte("zip " + ref)
	}
	return r
}

func TestForwardLearnsArchiveURLs(t *testing.T) {
	r := forwardRig(t, nil)
	ctx := context.Background()
	const u = "https://archives.test/acme/foo/zipball/c10"

	// Nothing is served before metadata named it.
	if r.h.ArchiveOrigin(ctx, "https://archives.test:443") {
		t.Error("origin known before any metadata was served")
	}
	if w, ok := fronttest.ServeURL(r.h, http.MethodGet, u); ok || w.Code != 200 || w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Fatalf("unknown URL answered: %v %d %q", ok, w.Code, w.Body)
	}
	if len(r.checker.ArchFacts) != 0 {
		t.Fatal("checker asked for an unknown URL")
	}

	if resp, body := r.Get("/p2/acme/foo.json"); resp.StatusCode != 200 {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	if !r.h.ArchiveOrigin(ctx, "https://archives.test:443") {
		t.Error("archive origin not learned")
	}
	for _, o := range []string{"http://archives.test:443", "https://archives.test:8443", "https://upstream.test:443"} {
		if r.h.ArchiveOrigin(ctx, o) {
			t.Errorf("origin %s learned", o)
		}
	}

	// The same URL however the client writes scheme, host and port.
	for _, asked := range []string{u, "https://ARCHIVES.test:443/acme/foo/zipball/c10", "https://archives.test./acme/foo/zipball/c10"} {
		w, ok := fronttest.ServeURL(r.h, http.MethodGet, asked)
		if !ok || w.Code != 200 || w.Body.String() != "zip c10" || w.Header().Get("Content-Type") != "application/zip" {
			t.Errorf("%s: %v %d %q", asked, ok, w.Code, w.Body)
		}
	}
	f := r.checker.ArchFacts[0]
	if f.Package != "acme/foo" || f.Version != "v1.0.0" || f.ArchiveURL != u || f.Manifest == "" {
		t.Errorf("facts %+v: want those of the metadata", f)
	}
	if w, ok := fronttest.ServeURL(r.h, http.MethodHead, u); !ok || w.Code != 200 {
		t.Errorf("HEAD: %v %d", ok, w.Code)
	}
	if w, ok := fronttest.ServeURL(r.h, http.MethodPost, u); !ok || w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %d", ok, w.Code)
	}
	// Another path, query or scheme is another URL.
	for _, other := range []string{u + "?x=1", "https://archives.test/acme/foo/zipball/c9", "http://archives.test/acme/foo/zipball/c10"} {
		if _, ok := fronttest.ServeURL(r.h, http.MethodGet, other); ok {
			t.Errorf("%s served", other)
		}
	}
}

func TestForwardArchiveVerdicts(t *testing.T) {
	r := forwardRig(t, nil)
	r.checker.set("v2.0.0", policy.Block, false, "acme/foo@v2.0.0: archive tree h1:x differs from the statement's h1:y")
	r.Get("/p2/acme/foo.json")

	// A blocked version's URL is learned, so that a lock file naming it
	// gets the reason.
	w, ok := fronttest.ServeURL(r.h, http.MethodGet, "https://archives.test/acme/foo/zipball/c2")
	if !ok || w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "differs from the statement") {
		t.Errorf("blocked: %v %d %s", ok, w.Code, w.Body)
	}

	// The metadata moved v1.0.0 to another archive: the old URL is no
	// longer served, with a reason.
	r.up.Set(upstreamBase+"/p2/acme/foo.json", minifiedDoc("acme/foo", []map[string]any{testVersion("v1.0.0", "c10b")}))
	r.h.index.Purge()
	w, ok = fronttest.ServeURL(r.h, http.MethodGet, "https://archives.test/acme/foo/zipball/c10")
	if !ok || w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no longer names") {
		t.Errorf("moved: %v %d %s", ok, w.Code, w.Body)
	}
}

func TestForwardLearnedPersists(t *testing.T) {
	store := fronttest.Store(t)
	meta := proxy.StoreCache(store)
	ctx := context.Background()
	first := forwardRig(t, meta)
	first.Get("/p2/acme/foo.json")

	// A restarted sigil: nothing in memory, the same store.
	second := forwardRig(t, meta)
	if !second.h.ArchiveOrigin(ctx, "https://archives.test:443") {
		t.Error("learned origin lost across a restart")
	}
	w, ok := fronttest.ServeURL(second.h, http.MethodGet, "https://archives.test/acme/foo/zipball/c11")
	if !ok || w.Code != 200 || w.Body.String() != "zip c11" {
		t.Fatalf("after a restart: %v %d %s", ok, w.Code, w.Body)
	}
	if f := second.checker.ArchFacts[0]; f.Version != "v1.1.0" || f.Manifest == "" {
		t.Errorf("facts %+v: want them read from the metadata again", f)
	}

	// The records sit under the front's own keys, in the format earlier
	// versions wrote; front's tests refuse tampered ones.
	key := "composer-forward " + upstreamBase + " url https://archives.test:443/acme/foo/zipball/c10"
	if m, err := meta.GetMeta(ctx, key); err != nil || string(m.Body) != "v1\nacme/foo\nv1.0.0\nhttps://archives.test/acme/foo/zipball/c10" {
		t.Errorf("stored record %q, %v", m.Body, err)
	}
}

func TestForwardOffInMirrorMode(t *testing.T) {
	r := newRig(t)
	setupFoo(r)
	r.Get("/composer/p2/acme/foo.json")
	if r.h.ArchiveOrigin(context.Background(), "https://archives.test:443") {
		t.Error("mirror mode learned an origin")
	}
	if _, ok := fronttest.ServeURL(r.h, http.MethodGet, "https://archives.test/acme/foo/zipball/c10"); ok {
		t.Error("mirror mode served an archive by URL")
	}
}

func TestRoutes(t *testing.T) {
	mirror := newRig(t)
	fwd := newRig(t, func(c *Config) { c.Forward = true; c.Prefix = "/repo" })
	for _, tc := range []struct {
		path        string
		mirror, fwd bool
	}{
		{"/composer/packages.json", true, false},
		{"/composer/p2/acme/foo.json", true, false},
		{"/composer/dists/acme/foo/1.0.0/abc.zip", true, false},
		{"/composer/api/security-advisories/", true, false},
		{"/composer/providers/acme/foo.json", true, false},
		{"/composer/api/search.json", true, false},
		{"/repo/api/search.json", false, true},
		{"/repo/api/list.json", false, true},
		// The filter lists the served root names keep working through
		// the proxy.
		{"/repo/filter/summary.json", false, true},
		{"/repo/api/filter/", false, true},
		{"/repo/api/security-advisories/", false, true},
		{"/composer/other", false, false},
		{"/composerx/packages.json", false, false},
		{"/repo/packages.json", false, true},
		{"/repo/p2/acme/foo.json", false, true},
		{"/repo/dists/acme/foo/1.0.0/abc.zip", false, false}, // the upstream's own path in forward mode
		{"/repo/dist/acme-foo.zip", false, false},
	} {
		if got := mirror.h.Routes(tc.path); got != tc.mirror {
			t.Errorf("mirror Routes(%q) = %v", tc.path, got)
		}
		if got := fwd.h.Routes(tc.path); got != tc.fwd {
			t.Errorf("forward Routes(%q) = %v", tc.path, got)
		}
	}
	// ServeHTTP agrees: no /dists/ route in forward mode.
	if resp, _ := fwd.Get("/repo/dists/acme/foo/1.0.0/abc.zip"); resp.StatusCode != 404 || len(fwd.checker.ArchFacts) != 0 {
		t.Errorf("forward /dists/: %d", resp.StatusCode)
	}
}

// BenchmarkP2Forward_500Versions is BenchmarkP2_500Versions in forward
// mode, where every served document also has its archive URLs learned
// (after the first request, memory lookups only).
func BenchmarkP2Forward_500Versions(b *testing.B) {
	r := newRig(b, func(c *Config) { c.Forward = true; c.Logger = slog.New(slog.DiscardHandler) })
	doc, err := json.Marshal(minifiedDoc("acme/big", realisticVersions(500)))
	if err != nil {
		b.Fatal(err)
	}
	r.up.Set(upstreamBase+"/p2/acme/big.json", doc)
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8780/composer/p2/acme/big.json", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
		r.checker.Facts = r.checker.Facts[:0]
	}
	if !r.h.ArchiveOrigin(context.Background(), "https://archives.test:443") {
		b.Fatal("archive origin not learned")
	}
}

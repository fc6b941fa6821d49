package npm

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

const cdnTarball = "https://cdn.test/tarballs/foo-1.0.0.tgz?sig=a%2Fb"

// cdnDoc is foo with 1.0.0 on another host and 1.1.0 at the registry's
// own path.
func cdnDoc() string {
	return `{"name":"foo","dist-tags":{"latest":"1.1.0"},"versions":{
		"1.0.0":{"name":"foo","version":"1.0.0","dist":{"tarball":"` + cdnTarball + `"}},
		"1.1.0":{"name":"foo","version":"1.1.0","dist":{"tarball":"` + upstreamBase + `/foo/-/foo-1.1.0.tgz"}}}}`
}

func forwardRig(t *testing.T, learned proxy.MetaStore) *rig {
	t.Helper()
	r := newRig(t, func(c *Config) { c.Forward = true; c.Prefix = "/"; c.Learned = learned })
	r.up.Set(upstreamBase+"/foo", cdnDoc())
	r.checker.Archives[cdnTarball] = []byte("cdn tarball")
	r.checker.Archives[upstreamBase+"/foo/-/foo-1.1.0.tgz"] = []byte("registry tarball")
	return r
}

func TestForwardLearnsTarballURLs(t *testing.T) {
	r := forwardRig(t, nil)
	ctx := context.Background()
	if r.h.ArchiveOrigin(ctx, "https://cdn.test:443") {
		t.Error("origin known before any packument was served")
	}
	if w, ok := fronttest.ServeURL(r.h, http.MethodGet, cdnTarball); ok || w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Fatalf("unknown URL answered: %v %d", ok, w.Code)
	}

	if resp, body := r.Get("/foo"); resp.StatusCode != 200 || !strings.Contains(string(body), cdnTarball) {
		t.Fatalf("packument: %d %s", resp.StatusCode, body)
	}
	if !r.h.ArchiveOrigin(ctx, "https://cdn.test:443") || r.h.ArchiveOrigin(ctx, "http://cdn.test:443") {
		t.Error("origins learned wrong")
	}
	// However the client writes scheme, host and port.
	for _, u := range []string{cdnTarball, "HTTPS://CDN.test.:443/tarballs/foo-1.0.0.tgz?sig=a%2Fb"} {
		w, ok := fronttest.ServeURL(r.h, http.MethodGet, u)
		if !ok || w.Code != 200 || w.Body.String() != "cdn tarball" {
			t.Errorf("%s: %v %d %s", u, ok, w.Code, w.Body)
		}
	}
	if _, ok := fronttest.ServeURL(r.h, http.MethodGet, "https://cdn.test/tarballs/foo-1.0.0.tgz?sig=other"); ok {
		t.Error("another query served")
	}
	if w, ok := fronttest.ServeURL(r.h, http.MethodPost, cdnTarball); !ok || w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %d", ok, w.Code)
	}
	// The registry's own path is a route, served by name and version.
	if resp, body := r.Get("/foo/-/foo-1.1.0.tgz"); resp.StatusCode != 200 || string(body) != "registry tarball" {
		t.Errorf("registry path: %d %s", resp.StatusCode, body)
	}

	// A blocked version's URL is learned, so a lockfile naming it gets
	// the reason.
	r.checker.set("1.0.0", policy.Block, "foo@1.0.0: revoked")
	if w, ok := fronttest.ServeURL(r.h, http.MethodGet, cdnTarball); !ok || w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "foo@1.0.0: revoked") {
		t.Errorf("blocked: %v %d %s", ok, w.Code, w.Body)
	}

	// The packument moved 1.0.0 elsewhere: the old URL is not served.
	r.up.Set(upstreamBase+"/foo", strings.Replace(cdnDoc(), "sig=a%2Fb", "sig=new", 1))
	r.h.index.Purge()
	if w, ok := fronttest.ServeURL(r.h, http.MethodGet, cdnTarball); !ok || w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no longer names") {
		t.Errorf("moved: %v %d %s", ok, w.Code, w.Body)
	} else if strings.Contains(w.Body.String(), "sig=") {
		t.Errorf("moved: the answer names the URL's query, which may carry a token: %s", w.Body)
	}
}

func TestForwardLearnedPersists(t *testing.T) {
	store := fronttest.Store(t)
	meta := proxy.StoreCache(store)
	ctx := context.Background()
	forwardRig(t, meta).Get("/foo")

	second := forwardRig(t, meta) // a restarted sigil
	if !second.h.ArchiveOrigin(ctx, "https://cdn.test:443") {
		t.Error("learned origin lost across a restart")
	}
	if w, ok := fronttest.ServeURL(second.h, http.MethodGet, cdnTarball); !ok || w.Code != 200 || w.Body.String() != "cdn tarball" {
		t.Fatalf("after a restart: %v %d %s", ok, w.Code, w.Body)
	}

	// The records sit under the front's own keys, in the format earlier
	// versions wrote; front's tests refuse tampered ones.
	key := "npm-forward " + upstreamBase + " url https://cdn.test:443/tarballs/foo-1.0.0.tgz?sig=a%2Fb"
	if m, err := meta.GetMeta(ctx, key); err != nil || string(m.Body) != "v1\nfoo\n1.0.0\n"+cdnTarball {
		t.Errorf("stored record %q, %v", m.Body, err)
	}
}

func TestForwardOffInMirrorMode(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", cdnDoc())
	r.Get("/npm/foo")
	if r.h.ArchiveOrigin(context.Background(), "https://cdn.test:443") {
		t.Error("origin learned in mirror mode")
	}
	if _, ok := fronttest.ServeURL(r.h, http.MethodGet, cdnTarball); ok {
		t.Error("URL served in mirror mode")
	}
}

func TestRoutes(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Prefix = "/" })
	for p, want := range map[string]bool{
		"/foo": true, "/@acme%2ffoo": true, "/@acme/foo": true, "/foo/-/foo-1.0.0.tgz": true,
		"/@acme/foo/-/foo-1.0.0.tgz": true, "/-/ping": true, "/-/npm/v1/keys": true,
		"/-/npm/v1/security/advisories/bulk": true, "/-/npm/v1/attestations/foo@1.0.0": true,
		"/-/v1/search": false, "/-/whoami": false, "/foo/1.0.0": false, "/download/@acme/foo/1.0.0/abc": false,
		"/.foo": false, "/": false, "/foo/-/bar-1.0.0.tgz": false, "/-/npm/v1/attestations/foo": false,
	} {
		if got := r.h.Routes(p); got != want {
			t.Errorf("Routes(%s) = %v", p, got)
		}
	}
	r = newRig(t) // under /npm
	if !r.h.Routes("/npm/foo") || r.h.Routes("/foo") || r.h.Routes("/npmfoo") {
		t.Error("Routes ignores the prefix")
	}
}

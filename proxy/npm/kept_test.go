package npm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

// noArchives is the real Verifier, which has no archive to serve.
type noArchives struct{ *proxy.Verifier }

func (noArchives) Archive(context.Context, proxy.VersionFacts) (*proxy.Archive, error) {
	return nil, proxy.ErrNotFound
}

// TestKeptPackumentRenewsIndex: a packument served again as it was
// rendered (not parsed) still keeps its facts at hand for the tarball
// requests that follow, as a parsed one does: a tarball asked for long
// after the parse, but soon after the kept packument was served, costs no
// second fetch of the packument.
func TestKeptPackumentRenewsIndex(t *testing.T) {
	_, v, _ := fronttest.Served(t, nil)
	r := newRig(t, func(c *Config) { c.Checker = noArchives{v} })
	now := time.Now()
	r.h.index.Now = func() time.Time { return now }
	r.up.Set(upstreamBase+"/foo", fooDoc())
	packuments := func() int {
		return len(slices.DeleteFunc(r.up.URLs(), func(u string) bool { return u != upstreamBase+"/foo" }))
	}

	if resp, body := r.Get("/npm/foo"); resp.StatusCode != http.StatusOK {
		t.Fatalf("packument: %d %s", resp.StatusCode, body)
	}
	now = now.Add(indexTTL * 5 / 6)
	r.Get("/npm/foo") // kept
	now = now.Add(indexTTL * 5 / 6)
	before := packuments()
	if resp, body := r.Get("/npm/foo/-/foo-1.0.0.tgz"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tarball: %d %s", resp.StatusCode, body)
	}
	if n := packuments() - before; n != 0 {
		t.Errorf("the tarball request fetched the packument %d more times", n)
	}
	// Without a packument served in between, the facts expire.
	now = now.Add(2 * indexTTL)
	r.Get("/npm/foo/-/foo-1.0.0.tgz")
	if n := packuments() - before; n != 1 {
		t.Errorf("after the facts expired, the packument was fetched %d times, want 1", n)
	}
}

// countingVerifier is the real Verifier, counting the times it decides.
type countingVerifier struct {
	*proxy.Verifier
	decided int
}

func (v *countingVerifier) VersionsStamped(ctx context.Context, eco, pkg string, facts []proxy.VersionFacts) ([]proxy.VersionVerdict, proxy.Stamp) {
	v.decided++
	return v.Verifier.VersionsStamped(ctx, eco, pkg, facts)
}

// TestKeptPackumentRegistryKeys: a kept packument is served again after
// the registry's keys document is read again unchanged, and decided and
// rendered again once the keys changed.
func TestKeptPackumentRegistryKeys(t *testing.T) {
	_, v, _ := fronttest.Served(t, nil)
	cv := &countingVerifier{Verifier: v}
	k := newRegKey(t)
	r := newRig(t, withSignatures(SignaturesWarn), func(c *Config) { c.Checker = cv })
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/foo", signedFoo(t, k))
	first, _ := r.Get("/npm/foo")
	resetKeys(r)
	again, _ := r.Get("/npm/foo")
	if cv.decided != 1 || again.Header.Get("ETag") != first.Header.Get("ETag") {
		t.Errorf("after the same keys were read again: %d decisions, ETag %s then %s", cv.decided, first.Header.Get("ETag"), again.Header.Get("ETag"))
	}

	impostor := newRegKey(t)
	impostor.id = k.id
	r.up.Set(keysURL, keysDoc([]*regKey{impostor}))
	resetKeys(r)
	changed, _ := r.Get("/npm/foo")
	if cv.decided != 2 || !strings.Contains(changed.Header.Get("X-Sigil-Verdict"), "signing keys differ") {
		t.Errorf("after the keys changed: %d decisions, X-Sigil-Verdict %q", cv.decided, changed.Header.Get("X-Sigil-Verdict"))
	}
}

// recorderTransport answers every request with h, counting them.
type recorderTransport struct {
	h    http.Handler
	hits atomic.Int64
}

func (t *recorderTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.hits.Add(1)
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestLargePackumentFromFile: a packument too large for the cache is kept
// in a file by the real Upstream; served again, it is neither fetched nor
// read, and a form not rendered yet (the abbreviated one) is rendered
// from the file's bytes, not fetched either.
func TestLargePackumentFromFile(t *testing.T) {
	_, v, _ := fronttest.Served(t, nil)
	doc := fooDoc()
	tr := &recorderTransport{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) })}
	up, err := proxy.NewHTTPUpstream(proxy.UpstreamConfig{Client: &http.Client{Transport: tr}, Cache: proxy.StoreCache(fronttest.Store(t)),
		MaxStored: int64(len(doc)) / 2, FileDir: t.TempDir(), MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *Config) { c.Checker = noArchives{v}; c.Upstream = up })
	get := func(headers ...string) (int, string) {
		resp, body := r.Get("/npm/foo", headers...)
		return resp.StatusCode, string(body)
	}
	code, first := get()
	if code != http.StatusOK || !strings.Contains(first, `"2.0.0"`) {
		t.Fatalf("packument: %d %s", code, first)
	}
	if code, again := get(); code != http.StatusOK || again != first {
		t.Errorf("served again: %d, same body %v", code, again == first)
	}
	code, abbreviated := get(corgiAccept)
	if code != http.StatusOK || !strings.Contains(abbreviated, `"2.0.0"`) || abbreviated == first {
		t.Errorf("abbreviated: %d %s", code, abbreviated)
	}
	if n := tr.hits.Load(); n != 1 {
		t.Errorf("the upstream was asked %d times, want once", n)
	}
}

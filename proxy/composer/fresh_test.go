package composer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// fakeTransport answers HTTP requests with the fake upstream's documents,
// and counts them.
type fakeTransport struct {
	up   *fronttest.Upstream
	hits atomic.Int64
}

func (t *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.hits.Add(1)
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: req, Body: http.NoBody}
	d, err := t.up.Document(req.Context(), req.URL.String())
	switch {
	case errors.Is(err, proxy.ErrNotFound):
		resp.StatusCode = http.StatusNotFound
	case err != nil:
		return nil, err
	default:
		resp.Body = io.NopCloser(bytes.NewReader(d.Body))
	}
	return resp, nil
}

// TestRevocationInsideFreshnessWindow: the upstream's document is fresh
// (not fetched again), yet a verdict that changes (a revocation proven by
// a new checkpoint) changes what is served at once, and the document kept
// rendered is not served again.
func TestRevocationInsideFreshnessWindow(t *testing.T) {
	tr := &fakeTransport{}
	r := newRig(t, func(cfg *Config) {
		up, err := proxy.NewHTTPUpstream(proxy.UpstreamConfig{
			Client: &http.Client{Transport: tr},
			Cache:  proxy.StoreCache(fronttest.Store(t)),
			MaxAge: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Upstream = up
	})
	tr.up = r.up
	setupFoo(r)
	_, body := r.Get("/composer/p2/acme/foo.json")
	if vs, _ := servedVersions(t, body, "acme/foo"); len(vs) != 3 {
		t.Fatalf("before: %d versions", len(vs))
	}
	hits := tr.hits.Load()

	r.checker.set("v2.0.0", policy.Block, false, "acme/foo@v2.0.0: signed only by a revoked key")
	resp, body := r.Get("/composer/p2/acme/foo.json")
	vs, _ := servedVersions(t, body, "acme/foo")
	if len(vs) != 2 || vs[0]["version"] == "v2.0.0" {
		t.Errorf("after the revocation: %d versions served: %v", len(vs), vs)
	}
	if resp.Header.Get("X-Sigil-Verdict") == "" {
		t.Error("no X-Sigil-Verdict after the revocation")
	}
	if n := tr.hits.Load(); n != hits {
		t.Errorf("the upstream was asked %d more times inside the freshness window", n-hits)
	}
}

// observingLog is a release log with no statements, at a checkpoint the
// test grows, holding observations the test sets.
type observingLog struct {
	mu   sync.Mutex
	size uint64
	obs  map[string]map[string]*tlog.Observation // by package, then version
}

func (l *observingLog) Lookup(_ context.Context, eco, pkg string) (*tlog.Lookup, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &tlog.Lookup{Ecosystem: eco, Package: pkg, Checkpoint: &tlog.Checkpoint{Size: l.size}, Observations: l.obs[pkg]}, nil
}

func (l *observingLog) grow(size uint64, pkg, version, manifest string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.size = size
	if pkg == "" {
		return
	}
	if l.obs == nil {
		l.obs = map[string]map[string]*tlog.Observation{}
	}
	if l.obs[pkg] == nil {
		l.obs[pkg] = map[string]*tlog.Observation{}
	}
	l.obs[pkg][version] = &tlog.Observation{Index: size - 1, Observation: &release.Observation{
		Ecosystem: release.Composer, Package: pkg, Version: version, Manifest: manifest, Observed: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

// countingVerifier is the real Verifier, counting the times it decides.
type countingVerifier struct {
	*proxy.Verifier
	decided atomic.Int64
}

func (v *countingVerifier) VersionsStamped(ctx context.Context, eco, pkg string, facts []proxy.VersionFacts) ([]proxy.VersionVerdict, proxy.Stamp) {
	v.decided.Add(1)
	return v.Verifier.VersionsStamped(ctx, eco, pkg, facts)
}

// TestKeptDocumentEndsWithEvidence: a document is served again as
// rendered, without verdicts, while the package's evidence is unchanged,
// also after the log grew with other entries; once a lookup proves a
// checkpoint whose evidence blocks a version, the next request serves the
// document without it, with new validators.
func TestKeptDocumentEndsWithEvidence(t *testing.T) {
	log := &observingLog{size: 10}
	v, err := proxy.NewVerifier(proxy.VerifierConfig{Log: log, Cache: proxy.StoreCache(fronttest.Store(t)), TempDir: t.TempDir(), EvidenceTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	cv := &countingVerifier{Verifier: v}
	r := newRig(t, func(cfg *Config) { cfg.Checker = cv })
	setupFoo(r)
	bar := testVersion("v1.0.0", "b1")
	bar["name"] = "acme/bar"
	r.up.Set(upstreamBase+"/p2/acme/bar.json", minifiedDoc("acme/bar", []map[string]any{bar}))
	baz := testVersion("v1.0.0", "z1")
	baz["name"] = "acme/baz"
	r.up.Set(upstreamBase+"/p2/acme/baz.json", minifiedDoc("acme/baz", []map[string]any{baz}))

	first, body := r.Get("/composer/p2/acme/foo.json")
	vs, _ := servedVersions(t, body, "acme/foo")
	if first.StatusCode != 200 || len(vs) != 3 {
		t.Fatalf("first: %d, %d versions", first.StatusCode, len(vs))
	}
	etag := first.Header.Get("ETag")
	again, body2 := r.Get("/composer/p2/acme/foo.json")
	if n := cv.decided.Load(); n != 1 || string(body2) != string(body) || again.Header.Get("ETag") != etag {
		t.Errorf("served again: %d decisions, same body %v, ETag %s then %s", n, string(body2) == string(body), etag, again.Header.Get("ETag"))
	}
	if resp, _ := r.Get("/composer/p2/acme/foo.json", "If-None-Match: "+etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation of the kept document: %d", resp.StatusCode)
	}

	// The log grows with another package's entry; a lookup of that
	// package proves it. acme/foo is looked up again: nothing changed.
	log.grow(11, "acme/other", "v1.0.0", "sha256:00")
	r.Get("/composer/p2/acme/bar.json")
	r.Get("/composer/p2/acme/foo.json")
	if n := cv.decided.Load(); n != 2 {
		t.Errorf("%d decisions after the log grew for another package, want 2 (foo once, bar once)", n)
	}

	// The log observed other dependencies for acme/foo v2.0.0 than the
	// upstream serves: once a lookup (of a package asked for the first
	// time) proves that checkpoint, v2.0.0 is blocked at once.
	log.grow(12, "acme/foo", "v2.0.0", "sha256:"+strings.Repeat("0", 64))
	r.Get("/composer/p2/acme/baz.json")
	resp, body := r.Get("/composer/p2/acme/foo.json")
	vs, _ = servedVersions(t, body, "acme/foo")
	if len(vs) != 2 || vs[0]["version"] == "v2.0.0" {
		t.Errorf("after the evidence changed: %d versions served: %v", len(vs), vs)
	}
	if resp.Header.Get("ETag") == etag || resp.Header.Get("X-Sigil-Verdict") == "" {
		t.Errorf("after the evidence changed: ETag %s (was %s), X-Sigil-Verdict %q", resp.Header.Get("ETag"), etag, resp.Header.Get("X-Sigil-Verdict"))
	}
	if resp, _ := r.Get("/composer/p2/acme/foo.json", "If-None-Match: "+etag); resp.StatusCode != http.StatusOK {
		t.Errorf("revalidation of the old document: %d, want 200", resp.StatusCode)
	}
}

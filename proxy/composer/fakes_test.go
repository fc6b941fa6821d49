package composer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
)

// upstreamBase is the configured upstream in tests. Nothing listens there:
// the fake Upstream answers from memory, and a test that reached the
// network would fail.
const upstreamBase = "https://upstream.test"

// fakeUpstream serves documents from a map and records every URL asked.
type fakeUpstream struct {
	mu    sync.Mutex
	docs  map[string][]byte
	errs  map[string]error
	asked []string
	stale bool
}

func newFakeUpstream() *fakeUpstream {
	return &fakeUpstream{docs: map[string][]byte{}, errs: map[string]error{}}
}

func (u *fakeUpstream) set(url string, body any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch b := body.(type) {
	case string:
		u.docs[url] = []byte(b)
	case []byte:
		u.docs[url] = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		u.docs[url] = j
	}
}

func (u *fakeUpstream) Document(ctx context.Context, url string) (*proxy.Document, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.asked = append(u.asked, url)
	if err := u.errs[url]; err != nil {
		return nil, err
	}
	b, ok := u.docs[url]
	if !ok {
		return nil, fmt.Errorf("%s: %w", url, proxy.ErrNotFound)
	}
	return &proxy.Document{Body: b, Stale: u.stale}, nil
}

func (u *fakeUpstream) urls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.asked)
}

// fakeChecker decides by a table of version → verdict (default Allow,
// KeepSource) and serves archives from memory.
type fakeChecker struct {
	mu        sync.Mutex
	verdicts  map[string]proxy.VersionVerdict // by version
	archives  map[string][]byte               // by ArchiveURL
	archErr   map[string]error                // by version
	calls     int
	facts     [][]proxy.VersionFacts
	archFacts []proxy.VersionFacts
}

func newFakeChecker() *fakeChecker {
	return &fakeChecker{verdicts: map[string]proxy.VersionVerdict{}, archives: map[string][]byte{}, archErr: map[string]error{}}
}

func (c *fakeChecker) set(version string, a policy.Action, keepSource bool, reasons ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verdicts[version] = proxy.VersionVerdict{Verdict: policy.Verdict{Action: a, Reasons: reasons}, KeepSource: keepSource}
}

func (c *fakeChecker) Versions(ctx context.Context, eco, pkg string, facts []proxy.VersionFacts) []proxy.VersionVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.facts = append(c.facts, slices.Clone(facts))
	out := make([]proxy.VersionVerdict, len(facts))
	for i, f := range facts {
		v, ok := c.verdicts[f.Version]
		if !ok {
			v = proxy.VersionVerdict{Verdict: policy.Verdict{Action: policy.Allow, Signed: true}, KeepSource: true}
		}
		out[i] = v
	}
	return out
}

var archiveTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *fakeChecker) Archive(ctx context.Context, f proxy.VersionFacts) (*proxy.Archive, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.archFacts = append(c.archFacts, f)
	if err := c.archErr[f.Version]; err != nil {
		return nil, err
	}
	v, ok := c.verdicts[f.Version]
	if !ok {
		v = proxy.VersionVerdict{Verdict: policy.Verdict{Action: policy.Allow, Signed: true}}
	}
	if v.Blocked() {
		return nil, &proxy.BlockedError{Facts: f, Verdict: v.Verdict}
	}
	b, ok := c.archives[f.ArchiveURL]
	if !ok {
		return nil, fmt.Errorf("archive %s: %w", f.ArchiveURL, proxy.ErrNotFound)
	}
	r := bytes.NewReader(b)
	return &proxy.Archive{Body: r, Closer: io.NopCloser(r), Size: int64(len(b)), SHA256: sha256.Sum256(b), ModTime: archiveTime, Verdict: v.Verdict}, nil
}

// countingStore wraps the in-memory ServedStore and counts calls.
type countingStore struct {
	*memServed
	mu    sync.Mutex
	calls int
}

func (s *countingStore) ServedState(ctx context.Context, key string, digest []byte) (time.Time, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	return s.memServed.ServedState(ctx, key, digest)
}

// rig is one handler under test with its fakes, served on 127.0.0.1.
type rig struct {
	t        testing.TB
	up       *fakeUpstream
	checker  *fakeChecker
	store    *countingStore
	h        *Handler
	srv      *httptest.Server
	public   string
	forward  bool
	mode     policy.Mode
	noServer bool
}

type rigOption func(*Config)

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{t: t, up: newFakeUpstream(), checker: newFakeChecker(), store: &countingStore{memServed: newMemServed()}}
	r.up.set(upstreamBase+"/packages.json", packagistLikeRoot)
	r.srv = httptest.NewServer(http.NotFoundHandler()) // 127.0.0.1 only
	t.Cleanup(r.srv.Close)
	u, _ := url.Parse(upstreamBase)
	cfg := Config{
		UpstreamURL: u,
		Upstream:    r.up,
		Checker:     r.checker,
		Served:      r.store,
		PublicURL:   r.srv.URL,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	// The handler itself, without a ServeMux that would clean paths
	// first: its own checks are what is under test.
	r.srv.Config.Handler = h
	return r
}

// testWriter sends logs to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// get fetches path from the rig's server with optional headers
// ("Name: value").
func (r *rig) get(path string, headers ...string) (*http.Response, []byte) {
	r.t.Helper()
	return r.do(http.MethodGet, path, "", nil, headers...)
}

func (r *rig) do(method, path, ctype string, body io.Reader, headers ...string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, b
}

// packagistLikeRoot has the shape of a large public repository's root,
// with every key sigil must keep, rewrite or drop.
var packagistLikeRoot = `{
	"packages": [],
	"notify": "https://stats.upstream.test/downloads/%package%",
	"notify-batch": "https://stats.upstream.test/downloads/",
	"providers-url": "/p/%package%$%hash%.json",
	"metadata-url": "/p2/%package%.json",
	"metadata-changes-url": "https://www.upstream.test/metadata/changes.json",
	"search": "https://www.upstream.test/search.json?q=%query%&type=%type%",
	"list": "/packages/list.json",
	"security-advisories": {"metadata": true, "api-url": "https://www.upstream.test/api/security-advisories/"},
	"providers-api": "https://www.upstream.test/providers/%package%.json",
	"mirrors": [{"dist-url": "https://mirror.test/%package%/%version%/%reference%.%type%", "preferred": true}],
	"providers-lazy-url": "/p/%package%.json",
	"provider-includes": {"p/provider-2013$%hash%.json": {"sha256": "00"}},
	"available-package-patterns": ["acme/*"],
	"warning": "Support for Composer 1 is deprecated",
	"warning-versions": "<1.99",
	"warnings": [{"message": "ok", "versions": ">=2"}, {"message": "no versions"}, "junk"]
}`

func proxyNotFound() error { return fmt.Errorf("upstream said 404: %w", proxy.ErrNotFound) }

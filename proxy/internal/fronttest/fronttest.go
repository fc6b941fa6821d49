// Package fronttest holds the fakes and helpers the tests of both
// ecosystem fronts use: an Upstream and a Checker that answer from memory
// (a test that reached the network would fail), and small HTTP helpers.
// Nothing here is for production code.
package fronttest

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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// UpstreamBase is the upstream the fronts are configured with in tests.
// Nothing listens there: the fake Upstream answers from memory, and a test
// that reached the network would fail.
const UpstreamBase = "https://upstream.test"

var (
	_ proxy.Upstream = (*Upstream)(nil)
	_ proxy.Checker  = (*Checker)(nil)
)

// Upstream serves documents from memory and records every URL asked. A
// test may read and change its fields directly between requests.
type Upstream struct {
	mu    sync.Mutex
	Docs  map[string][]byte // by URL
	Errs  map[string]error  // by URL, answered before Docs
	Asked []string
	Stale bool // every answer says the upstream was unreachable
}

// NewUpstream returns an Upstream with no documents.
func NewUpstream() *Upstream {
	return &Upstream{Docs: map[string][]byte{}, Errs: map[string]error{}}
}

// Set serves body at url: a string or []byte as it is, anything else
// encoded with encoding/json.
func (u *Upstream) Set(url string, body any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch b := body.(type) {
	case string:
		u.Docs[url] = []byte(b)
	case []byte:
		u.Docs[url] = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		u.Docs[url] = j
	}
}

// Document returns a copy of the document at url, as proxy.HTTPUpstream
// does, or an error wrapping proxy.ErrNotFound.
func (u *Upstream) Document(ctx context.Context, url string) (*proxy.Document, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.Asked = append(u.Asked, url)
	if err := u.Errs[url]; err != nil {
		return nil, err
	}
	b, ok := u.Docs[url]
	if !ok {
		return nil, fmt.Errorf("%s: %w", url, proxy.ErrNotFound)
	}
	return &proxy.Document{Body: bytes.Clone(b), Stale: u.Stale}, nil
}

// URLs returns the URLs asked so far, in order.
func (u *Upstream) URLs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.Asked)
}

// Checker decides by a table of verdicts by version, and serves archives
// from memory. A version not in the table is allowed and signed, with
// KeepSource. A test may read and change its fields directly between
// requests.
type Checker struct {
	mu        sync.Mutex
	Verdicts  map[string]proxy.VersionVerdict // by version, or by PKG@VERSION
	Archives  map[string][]byte               // by ArchiveURL
	ArchErr   map[string]error                // by version: Archive's answer
	Calls     int                             // of Versions
	Facts     [][]proxy.VersionFacts          // of each call of Versions
	ArchFacts []proxy.VersionFacts            // of each call of Archive
	// Short breaks Versions' contract: one verdict too few.
	Short bool
	// Policy gives the mode in which a required registry signature that
	// failed (VersionFacts.Registry) blocks or warns, as policy decides
	// it. Default: enforce for every package.
	Policy *policy.Config
}

// NewChecker returns a Checker that allows everything and has no archives.
func NewChecker() *Checker {
	return &Checker{Verdicts: map[string]proxy.VersionVerdict{}, Archives: map[string][]byte{}, ArchErr: map[string]error{}}
}

// Set gives version the verdict v, in Versions and Archive: the version
// of every package, or of one when version is "PKG@VERSION".
func (c *Checker) Set(version string, v proxy.VersionVerdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Verdicts[version] = v
}

// UnsignedWarn is the verdict policy gives version of the unsigned
// package pkg under unsigned = warn (and its archive, first seen): the
// package's notice alone (policy.Verdict.NoticeOnly).
func UnsignedWarn(eco, pkg, version string) proxy.VersionVerdict {
	ev := &policy.Evidence{Trust: &tlog.PackageTrust{Ecosystem: eco, Package: pkg, Namespaces: release.Namespaces(eco, pkg)}}
	return proxy.VersionVerdict{Verdict: (&policy.Config{Unsigned: policy.UnsignedWarn}).Version(ev, policy.Metadata{Package: pkg, Version: version})}
}

func (c *Checker) verdict(pkg, version string) proxy.VersionVerdict {
	if v, ok := c.Verdicts[pkg+"@"+version]; ok {
		return v
	}
	if v, ok := c.Verdicts[version]; ok {
		return v
	}
	return proxy.VersionVerdict{Verdict: policy.Verdict{Action: policy.Allow, Signed: true}, KeepSource: true}
}

// Versions implements proxy.Checker.
func (c *Checker) Versions(ctx context.Context, eco, pkg string, facts []proxy.VersionFacts) []proxy.VersionVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Calls++
	c.Facts = append(c.Facts, slices.Clone(facts))
	out := make([]proxy.VersionVerdict, len(facts))
	for i, f := range facts {
		out[i] = c.verdict(f.Package, f.Version)
		out[i].Verdict = c.withRegistry(out[i].Verdict, &f)
	}
	if c.Short && len(out) > 0 {
		out = out[1:]
	}
	return out
}

// withRegistry weighs the registry-signature evidence of f into v the way
// policy does: its problems are reasons; a required one fails the version.
func (c *Checker) withRegistry(v policy.Verdict, f *proxy.VersionFacts) policy.Verdict {
	r := f.Registry
	if len(r.Problems) == 0 {
		return v
	}
	v.Reasons = append(slices.Clip(v.Reasons), r.Problems...)
	v.NoticeOnly = false
	mode := policy.ModeEnforce
	if c.Policy != nil {
		mode = c.Policy.For(f.Package).Mode
	}
	switch {
	case v.Action == policy.Block:
	case r.Required && mode == policy.ModeWarn:
		v.Action, v.Failed = policy.Warn, true
	case r.Required:
		v.Action, v.Failed = policy.Block, true
	default:
		v.Action = policy.Warn
	}
	return v
}

// ArchiveTime is the ModTime of every archive the Checker serves.
var ArchiveTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Archive implements proxy.Checker: ArchErr's error, a *proxy.BlockedError
// for a blocked version, the archive at facts.ArchiveURL, or
// proxy.ErrNotFound.
func (c *Checker) Archive(ctx context.Context, f proxy.VersionFacts) (*proxy.Archive, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ArchFacts = append(c.ArchFacts, f)
	if err := c.ArchErr[f.Version]; err != nil {
		return nil, err
	}
	v := c.withRegistry(c.verdict(f.Package, f.Version).Verdict, &f)
	if v.Blocked() {
		return nil, &proxy.BlockedError{Facts: f, Verdict: v}
	}
	b, ok := c.Archives[f.ArchiveURL]
	if !ok {
		return nil, fmt.Errorf("archive %s: %w", f.ArchiveURL, proxy.ErrNotFound)
	}
	r := bytes.NewReader(b)
	return &proxy.Archive{Body: r, Closer: io.NopCloser(r), Size: int64(len(b)), SHA256: sha256.Sum256(b), ModTime: ArchiveTime, Verdict: v}, nil
}

// Lines is a log's output, safe to write from several goroutines.
type Lines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// CaptureLog returns a logger at Info level, serve's default, that writes
// to the Lines returned, for a test of what a front logs.
func CaptureLog() (*slog.Logger, *Lines) {
	l := &Lines{}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo})), l
}

// Logger sends warnings and errors to t's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Serve serves the handler that newHandler makes, given the server's URL,
// on 127.0.0.1 until the test ends, and returns a Client of the server. The server calls the handler itself,
// without a ServeMux that would clean paths first: its own checks are
// what is under test.
func Serve[H http.Handler](t testing.TB, newHandler func(serverURL string) (H, error)) (H, Client) {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	h, err := newHandler(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	return h, Client{t, srv}
}

// Store is an in-memory cache.Store, closed when the test ends.
func Store(t testing.TB) *cache.Store {
	t.Helper()
	s, err := cache.Open("", cache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Client makes requests to a test server.
type Client struct {
	T   testing.TB
	Srv *httptest.Server
}

// Get fetches path with optional headers ("Name: value").
func (c Client) Get(path string, headers ...string) (*http.Response, []byte) {
	c.T.Helper()
	return c.Do(http.MethodGet, path, nil, headers...)
}

// Do makes a request for path and returns the response and its whole
// body. headers are "Name: value".
func (c Client) Do(method, path string, body io.Reader, headers ...string) (*http.Response, []byte) {
	c.T.Helper()
	req, err := http.NewRequest(method, c.Srv.URL+path, body)
	if err != nil {
		c.T.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := c.Srv.Client().Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.T.Fatal(err)
	}
	return resp, b
}

// Archives is the forward proxy's way into a front (proxy/forward).
type Archives interface {
	ServeArchiveURL(w http.ResponseWriter, r *http.Request, archiveURL string) bool
}

// ServeURL asks h for an archive by URL, as the forward proxy does.
func ServeURL(h Archives, method, u string) (*httptest.ResponseRecorder, bool) {
	w := httptest.NewRecorder()
	req := httptest.NewRequest(method, u, nil)
	return w, h.ServeArchiveURL(w, req, u)
}

// DecodeObject decodes a served JSON object generically.
func DecodeObject(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("served body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

// ServedKeys is a served-state store (front.ServedStore) that records the
// distinct keys it was asked about: each would be a record on disk.
type ServedKeys struct {
	mu   sync.Mutex
	keys map[string]bool
}

// ServedState records key and answers a fixed time.
func (s *ServedKeys) ServedState(ctx context.Context, key string, digest []byte) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	s.keys[key] = true
	return ArchiveTime, ctx.Err()
}

// Len is the number of distinct keys recorded.
func (s *ServedKeys) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// GetWithHosts asks h for path n times, each with another Host header, as
// a client on a shared mirror can, and fails the test unless every answer
// is 200.
func GetWithHosts(t testing.TB, h http.Handler, path string, n int) {
	t.Helper()
	for i := range n {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = fmt.Sprintf("h%d.example:8780", i)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("Host %s: status %d: %s", req.Host, w.Code, w.Body)
		}
	}
}

// emptyLog is a release log with nothing in it, as serve without --log:
// every package is unsigned.
type emptyLog struct{}

func (emptyLog) Lookup(_ context.Context, eco, pkg string) (*tlog.Lookup, error) {
	return &tlog.Lookup{Ecosystem: eco, Package: pkg}, nil
}

// Served is what sigil serve puts behind a front, for the benchmarks of a
// warm request as clients see it: the real Upstream through client (its
// documents fresh within the default --metadata-max-age, those over
// 16 MiB kept in files of a temporary directory), the real
// Verifier with an empty release log (every package unsigned, allowed),
// and the in-memory Store they share.
func Served(t testing.TB, client *http.Client) (*proxy.HTTPUpstream, *proxy.Verifier, *cache.Store) {
	t.Helper()
	store := Store(t)
	upstream, err := proxy.NewHTTPUpstream(proxy.UpstreamConfig{Client: client, Cache: proxy.StoreCache(store), FileDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := proxy.NewVerifier(proxy.VerifierConfig{Log: emptyLog{}, Cache: proxy.StoreCache(store), Policy: &policy.Config{}, TempDir: t.TempDir(), EvidenceTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return upstream, v, store
}

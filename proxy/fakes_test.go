package proxy

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// fakeLog answers lookups with an empty entry list at a settable
// checkpoint size, or an error; the test decides the evidence through
// fakeEvidence.
type fakeLog struct {
	mu    sync.Mutex
	size  uint64
	err   error
	calls atomic.Int64
	gate  chan struct{} // when non-nil, Lookup waits for it to close
}

func (l *fakeLog) Lookup(ctx context.Context, eco, pkg string) (*tlog.Lookup, error) {
	l.calls.Add(1)
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	return &tlog.Lookup{Ecosystem: eco, Package: pkg, Checkpoint: &tlog.Checkpoint{Size: l.size}}, nil
}

func (l *fakeLog) set(size uint64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.size, l.err = size, err
}

// fakeEvidence maps packages to the evidence their lookups evaluate to.
type fakeEvidence struct {
	mu sync.Mutex
	m  map[string]*policy.Evidence
}

func (f *fakeEvidence) set(pkg string, ev *policy.Evidence) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*policy.Evidence{}
	}
	f.m[pkg] = ev
}

func (f *fakeEvidence) evaluate(lk *tlog.Lookup) *policy.Evidence {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev, ok := f.m[lk.Package]; ok {
		return ev
	}
	return unsigned(lk.Ecosystem, lk.Package)
}

// memCache is an in-memory Cache with the contracts of the interfaces.
type memCache struct {
	mu    sync.Mutex
	blobs map[[32]byte][]byte
	times map[[32]byte]time.Time
	refs  map[cache.ArchiveKey][32]byte
	pins  map[string]string
	metas map[string]cache.Meta
	err   error // when set, every call fails with it

	putMu    sync.Mutex // serializes PutBlob, as the contract asks
	puts     atomic.Int64
	metaPuts atomic.Int64
}

func newMemCache() *memCache {
	return &memCache{
		blobs: map[[32]byte][]byte{},
		times: map[[32]byte]time.Time{},
		refs:  map[cache.ArchiveKey][32]byte{},
		pins:  map[string]string{},
		metas: map[string]cache.Meta{},
	}
}

func (c *memCache) fail() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *memCache) PutBlob(ctx context.Context, sum [32]byte, r io.Reader) error {
	if err := c.fail(); err != nil {
		return err
	}
	c.putMu.Lock()
	defer c.putMu.Unlock()
	c.mu.Lock()
	_, ok := c.blobs[sum]
	c.mu.Unlock()
	if ok {
		return nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if sha256.Sum256(b) != sum {
		return fmt.Errorf("refused: bytes do not hash to %x", sum)
	}
	c.puts.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.blobs[sum]; !ok {
		c.blobs[sum], c.times[sum] = b, time.Now()
	}
	return nil
}

func (c *memCache) OpenBlob(ctx context.Context, sum [32]byte) (Blob, error) {
	if err := c.fail(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blobs[sum]
	if !ok {
		return nil, fmt.Errorf("blob %x: %w", sum, cache.ErrNotFound)
	}
	return &memBlob{bytes.NewReader(b), c.times[sum]}, nil
}

type memBlob struct {
	*bytes.Reader
	mod time.Time
}

func (b *memBlob) Close() error       { return nil }
func (b *memBlob) ModTime() time.Time { return b.mod }

func (c *memCache) ArchiveRef(ctx context.Context, key cache.ArchiveKey) ([32]byte, bool, error) {
	if err := c.fail(); err != nil {
		return [32]byte{}, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, ok := c.refs[key]
	return sum, ok, nil
}

func (c *memCache) PutArchiveRefIfAbsent(ctx context.Context, key cache.ArchiveKey, sum [32]byte) ([32]byte, error) {
	if err := c.fail(); err != nil {
		return [32]byte{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.refs[key]; ok {
		return old, nil
	}
	if _, ok := c.blobs[sum]; !ok {
		return [32]byte{}, fmt.Errorf("blob %x is not stored: %w", sum, cache.ErrNotFound)
	}
	c.refs[key] = sum
	return sum, nil
}

func (c *memCache) VersionArchives(ctx context.Context, eco, pkg, version string) ([][32]byte, error) {
	if err := c.fail(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var sums [][32]byte
	for k, sum := range c.refs {
		if k.Ecosystem == eco && k.Package == pkg && k.Version == version && !slices.Contains(sums, sum) {
			sums = append(sums, sum)
		}
	}
	return sums, nil
}

// evict removes a blob and the references that name it, as the cache's
// eviction does; pins stay.
func (c *memCache) evict(sum [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.blobs, sum)
	for k, s := range c.refs {
		if s == sum {
			delete(c.refs, k)
		}
	}
}

var _ VersionArchives = (*memCache)(nil)

func (c *memCache) PinTree(ctx context.Context, eco, pkg, version, tree string) (string, time.Time, error) {
	if err := c.fail(); err != nil {
		return "", time.Time{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := eco + " " + pkg + " " + version
	if p, ok := c.pins[k]; ok {
		return p, time.Time{}, nil
	}
	c.pins[k] = tree
	return tree, time.Now(), nil
}

func (c *memCache) PinnedTree(ctx context.Context, eco, pkg, version string) (string, time.Time, error) {
	if err := c.fail(); err != nil {
		return "", time.Time{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pins[eco+" "+pkg+" "+version]; ok {
		return p, time.Time{}, nil
	}
	return "", time.Time{}, fmt.Errorf("pin: %w", cache.ErrNotFound)
}

func (c *memCache) GetMeta(ctx context.Context, key string) (cache.Meta, error) {
	if err := c.fail(); err != nil {
		return cache.Meta{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.metas[key]
	if !ok {
		return cache.Meta{}, fmt.Errorf("metadata %q: %w", key, cache.ErrNotFound)
	}
	m.Body = bytes.Clone(m.Body)
	return m, nil
}

func (c *memCache) PutMeta(ctx context.Context, key string, m cache.Meta) error {
	if err := c.fail(); err != nil {
		return err
	}
	c.metaPuts.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	m.Body = bytes.Clone(m.Body)
	c.metas[key] = m
	return nil
}

func (c *memCache) DeleteMeta(ctx context.Context, key string) error {
	if err := c.fail(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.metas, key)
	return nil
}

func (c *memCache) refCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.refs)
}

func (c *memCache) blobCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.blobs)
}

// makeZip returns a zip archive of files under one top-level directory, as
// a GitHub zipball has, and its tree hash.
func makeZip(t testing.TB, files map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create("acme-foo-1234567/" + name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := release.HashArchive(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "composer.json", release.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info.Tree
}

// archiveServer serves settable bytes at /dist/... and counts requests.
type archiveServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   map[string][]byte
	status map[string]int
	hits   atomic.Int64
	gate   chan struct{} // when non-nil, answers wait for it to close
}

func newArchiveServer(t testing.TB) *archiveServer {
	s := &archiveServer{body: map[string][]byte{}, status: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.gate != nil {
			<-s.gate
		}
		s.mu.Lock()
		b, ok := s.body[r.URL.Path]
		st := s.status[r.URL.Path]
		s.mu.Unlock()
		if st != 0 {
			http.Error(w, "upstream says no", st)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *archiveServer) set(path string, b []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body[path] = b
	return s.URL + path
}

func (s *archiveServer) setStatus(path string, st int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[path] = st
	return s.URL + path
}

// testVerifier builds a Verifier over fakes.
type testEnv struct {
	v     *Verifier
	log   *fakeLog
	ev    *fakeEvidence
	cache *memCache
	up    *archiveServer
}

func newTestEnv(t testing.TB, pol *policy.Config) *testEnv {
	t.Helper()
	e := &testEnv{log: &fakeLog{size: 10}, ev: &fakeEvidence{}, cache: newMemCache(), up: newArchiveServer(t)}
	v, err := NewVerifier(VerifierConfig{
		Log:     e.log,
		Policy:  pol,
		Cache:   e.cache,
		Client:  e.up.Client(),
		TempDir: t.TempDir(),
		Logger:  testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	v.evaluate = e.ev.evaluate
	e.v = v
	return e
}

// acmeFoo is the trust of acme/foo with one key, named "acme", in the
// namespace acme: a signed package, to add statements to.
func acmeFoo() tlogtest.Trust {
	return tlogtest.NewTrust(release.Composer, "acme/foo").Key("acme", "acme")
}

// signed returns the evidence of acme/foo (acmeFoo) with each of sts as
// the valid statement of its version, logged at index 3.
func signed(sts ...release.Statement) *policy.Evidence {
	t := acmeFoo()
	for _, st := range sts {
		t.Statement(3, st, "acme")
	}
	return &policy.Evidence{Trust: t.PackageTrust}
}

// unsigned returns the evidence of a package no key governs.
func unsigned(eco, pkg string) *policy.Evidence {
	return &policy.Evidence{Trust: tlogtest.NewTrust(eco, pkg).PackageTrust}
}

func facts(version, url string) VersionFacts {
	return VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Package: "acme/foo", Version: version, Manifest: emptyManifest}, ArchiveURL: url}
}

// newChunkedServer serves b without a Content-Length.
func newChunkedServer(t testing.TB, b []byte) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for len(b) > 0 {
			n := min(len(b), 512)
			w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// emptyManifest is the manifest digest of the test archives, which hold no
// manifest file: the metadata of the fake versions says the same.
const emptyManifest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

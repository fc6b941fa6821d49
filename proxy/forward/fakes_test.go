package forward

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/certs"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/composer"
)

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// testCA is sigil's CA in tests: it may mint for example.test and
// 127.0.0.1, where the test servers listen (an IP may only be named
// beside a DNS name: certs refuses a CA that leaves DNS names free).
func testCA(t testing.TB) *certs.CA {
	t.Helper()
	ca, err := certs.InitCA(filepath.Join(t.TempDir(), "ca"), certs.Options{Hosts: []string{"example.test", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// registry is a Composer repository on a TLS server of its own (its own
// CA: httptest's certificate for 127.0.0.1), whose dist URLs point at
// archiveBase, and an archive server that counts what it is asked.
type registry struct {
	meta                  *httptest.Server // packages.json and p2 documents
	archives              *httptest.Server // dist files (may be meta itself)
	roots                 *x509.CertPool   // trusts both servers' certificates
	metaHits, archiveHits atomic.Int64
	credentials           atomic.Int64 // requests that carried credentials
	mu                    sync.Mutex
	files                 map[string][]byte // archive path → bytes
}

// newRegistry starts the registry; with separateArchives the dists live on
// a second server (another port, so another origin).
func newRegistry(t *testing.T, separateArchives bool) *registry {
	t.Helper()
	g := &registry{roots: x509.NewCertPool(), files: map[string][]byte{
		"/dist/acme/foo/1.0.0.zip": []byte("zip of 1.0.0"),
		"/dist/acme/foo/2.0.0.zip": []byte("zip of 2.0.0"),
	}}
	g.meta = httptest.NewTLSServer(http.HandlerFunc(g.serveMeta))
	t.Cleanup(g.meta.Close)
	g.roots.AddCert(g.meta.Certificate())
	g.archives = g.meta
	if separateArchives {
		g.archives = httptest.NewTLSServer(http.HandlerFunc(g.serveArchive))
		t.Cleanup(g.archives.Close)
		g.roots.AddCert(g.archives.Certificate())
	}
	return g
}

func (g *registry) distURL(version string) string {
	return g.archives.URL + "/dist/acme/foo/" + version + ".zip"
}

// countCredentials counts a request that carries a client's credentials.
func (g *registry) countCredentials(r *http.Request) {
	for _, h := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
		if r.Header.Get(h) != "" {
			g.credentials.Add(1)
			return
		}
	}
}

func (g *registry) serveMeta(w http.ResponseWriter, r *http.Request) {
	g.countCredentials(r)
	if strings.HasPrefix(r.URL.Path, "/dist/") {
		g.serveArchive(w, r)
		return
	}
	g.metaHits.Add(1)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/packages.json":
		io.WriteString(w, `{"packages":[],"metadata-url":"/p2/%package%.json"}`)
	case "/p2/acme/foo.json":
		var vs []map[string]any
		for _, v := range []string{"2.0.0", "1.0.0"} {
			vs = append(vs, map[string]any{"name": "acme/foo", "version": v,
				"dist": map[string]any{"type": "zip", "url": g.distURL(v), "reference": "r" + v}})
		}
		json.NewEncoder(w).Encode(map[string]any{"packages": map[string]any{"acme/foo": vs}})
	case "/search.json":
		io.WriteString(w, `{"results":[]}`)
	default:
		http.NotFound(w, r)
	}
}

func (g *registry) serveArchive(w http.ResponseWriter, r *http.Request) {
	g.countCredentials(r)
	g.archiveHits.Add(1)
	g.mu.Lock()
	b, ok := g.files[r.URL.Path]
	g.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Write(b)
}

// upstreamClient is how sigil reaches the registry: proxy.UpstreamClient
// trusting the registry's own CA, as --upstream-ca does.
func (g *registry) upstreamClient() *http.Client {
	return proxy.UpstreamClient(&tls.Config{RootCAs: g.roots})
}

// checker is a Checker that blocks the versions in block and serves an
// archive by fetching its URL (as the Verifier does), so that a test sees
// the upstream reached only where it should be.
type checker struct {
	client *http.Client
	block  map[string]string // version → reason
	mu     sync.Mutex
	asked  []proxy.VersionFacts
}

func (c *checker) Versions(_ context.Context, _, _ string, facts []proxy.VersionFacts) []proxy.VersionVerdict {
	out := make([]proxy.VersionVerdict, len(facts))
	for i, f := range facts {
		if reason, ok := c.block[f.Version]; ok {
			out[i].Verdict = policy.Verdict{Action: policy.Block, Reasons: []string{reason}}
		} else {
			out[i].Verdict = policy.Verdict{Action: policy.Allow, Signed: true}
		}
	}
	return out
}

func (c *checker) Archive(ctx context.Context, f proxy.VersionFacts) (*proxy.Archive, error) {
	c.mu.Lock()
	c.asked = append(c.asked, f)
	c.mu.Unlock()
	if reason, ok := c.block[f.Version]; ok {
		return nil, &proxy.BlockedError{Facts: f, Verdict: policy.Verdict{Action: policy.Block, Reasons: []string{reason}}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.ArchiveURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, &proxy.UpstreamError{URL: f.ArchiveURL, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %d: %w", f.ArchiveURL, resp.StatusCode, proxy.ErrNotFound)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(b)
	return &proxy.Archive{Body: r, Size: int64(len(b)), SHA256: sha256.Sum256(b), ModTime: time.Unix(1e9, 0), Verdict: policy.Verdict{Action: policy.Allow}}, nil
}

// rig is sigil's forward proxy in front of a registry, served on
// 127.0.0.1, with a client that trusts sigil's CA and nothing else.
type rig struct {
	t       *testing.T
	reg     *registry
	ca      *certs.CA
	checker *checker
	front   *composer.Handler
	p       *Proxy
	srv     *httptest.Server
	nonHits atomic.Int64 // requests that reached NonProxy
}

type rigOptions struct {
	separateArchives bool
	allow            []string
	archiveHosts     []string
	reg              *registry    // nil: a new one
	log              *slog.Logger // the proxy's; nil: the test's
	wrap             func(http.Handler) http.Handler
	mode             policy.Mode
	untrusted        bool         // sigil does not trust the registry's CA
	store            *cache.Store // sigil's cache; nil: a new one
	metrics          *proxy.Metrics
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, reg: o.reg, ca: testCA(t)}
	if r.reg == nil {
		r.reg = newRegistry(t, o.separateArchives)
	}
	client := r.reg.upstreamClient()
	if o.untrusted {
		client = proxy.UpstreamClient(nil)
	}
	store := o.store
	if store == nil {
		var err error
		if store, err = cache.Open("", cache.Options{InMemory: true}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
	}
	up, err := proxy.NewHTTPUpstream(proxy.UpstreamConfig{Client: client, Cache: proxy.StoreCache(store)})
	if err != nil {
		t.Fatal(err)
	}
	r.checker = &checker{client: client, block: map[string]string{"2.0.0": "acme/foo@2.0.0: archive tree differs from the statement's"}}
	upURL, _ := url.Parse(r.reg.meta.URL)
	r.front, err = composer.New(composer.Config{
		UpstreamURL: upURL, Upstream: up, Checker: r.checker, Prefix: "/", Forward: true, Mode: o.mode,
		Learned: proxy.StoreCache(store), Tunnelled: Tunnelled(o.allow), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.p, err = New(Config{
		CA:        r.ca,
		Upstreams: []Upstream{{URL: upURL, Front: r.front}},
		Allow:     o.allow,
		Archives:  o.archiveHosts,
		Wrap:      o.wrap,
		NonProxy: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.nonHits.Add(1)
			io.WriteString(w, "mirror "+req.URL.Path)
		}),
		Logger:  cmp.Or(o.log, testLogger(t)),
		Metrics: o.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.p.Close() })
	r.srv = httptest.NewServer(r.p)
	t.Cleanup(r.srv.Close)
	return r
}

// client goes through sigil and trusts sigil's CA only (and the extra
// roots given, for tunnelled hosts).
func (r *rig) client(extra ...*x509.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(r.ca.Certificate())
	for _, c := range extra {
		roots.AddCert(c)
	}
	proxyURL, _ := url.Parse(r.srv.URL)
	return &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
}

// get fetches u through sigil.
func (r *rig) get(u string) (*http.Response, string) {
	r.t.Helper()
	resp, err := r.client().Get(u)
	if err != nil {
		r.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// connect sends a raw CONNECT for target to sigil and returns the answer's
// status line and body, with the connection.
func (r *rig) connect(target string) (*http.Response, string, net.Conn) {
	r.t.Helper()
	c, err := net.Dial("tcp", r.srv.Listener.Addr().String())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		r.t.Fatalf("CONNECT %s: %v", target, err)
	}
	if resp.StatusCode == http.StatusOK {
		// The tunnel is open: nothing follows until the client speaks.
		c.SetReadDeadline(time.Time{})
		return resp, "", c
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), c
}

// countingListener is a TCP listener on 127.0.0.1 that records every
// connection it accepts: a host sigil must never reach.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cl.accepted.Add(1)
			c.Close()
		}
	}()
	return cl
}

// syncBuffer is a bytes.Buffer for a logger that writes from several
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

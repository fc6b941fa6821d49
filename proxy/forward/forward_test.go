package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
)

// p2 decodes a served p2 document's versions of acme/foo.
func p2Versions(t *testing.T, body string) map[string]string {
	t.Helper()
	var doc struct {
		Packages map[string][]map[string]any `json:"packages"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := map[string]string{}
	for _, v := range doc.Packages["acme/foo"] {
		dist, _ := v["dist"].(map[string]any)
		out[v["version"].(string)], _ = dist["url"].(string)
	}
	return out
}

func TestInterceptedMetadataFiltered(t *testing.T) {
	r := newRig(t, rigOptions{})
	resp, body := r.get(r.reg.meta.URL + "/packages.json")
	if resp.StatusCode != 200 || !strings.Contains(body, `"metadata-url":"/p2/%package%.json"`) {
		t.Fatalf("packages.json: %d %s", resp.StatusCode, body)
	}
	// The client trusted sigil's leaf, minted for the upstream's address
	// by sigil's CA: the upstream's own certificate never reached it.
	leaf := resp.TLS.PeerCertificates[0]
	if leaf.Issuer.CommonName != r.ca.Certificate().Subject.CommonName || len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "127.0.0.1" {
		t.Errorf("leaf %v issued by %v", leaf.IPAddresses, leaf.Issuer)
	}

	resp, body = r.get(r.reg.meta.URL + "/p2/acme/foo.json")
	if resp.StatusCode != 200 {
		t.Fatalf("p2: %d %s", resp.StatusCode, body)
	}
	vs := p2Versions(t, body)
	if len(vs) != 1 || vs["1.0.0"] != r.reg.distURL("1.0.0") {
		t.Errorf("served versions %v: want 1.0.0 alone, with the upstream's dist URL", vs)
	}
	if !strings.Contains(body, "sigil blocked: acme/foo@2.0.0") {
		t.Errorf("no warning for the blocked version: %s", body)
	}
	if r.nonHits.Load() != 0 {
		t.Error("a proxy request reached the mirror routes")
	}
}

func TestArchiveServedOnlyWhenLearned(t *testing.T) {
	r := newRig(t, rigOptions{})
	u := r.reg.distURL("1.0.0")

	// Before metadata named it: refused, and the upstream is not asked.
	resp, body := r.get(u)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(body, "has not seen metadata naming "+r.reg.meta.URL) || !strings.Contains(body, "composer update") {
		t.Errorf("unlearned archive: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if n := r.reg.archiveHits.Load(); n != 0 {
		t.Errorf("the upstream was asked for an unlearned archive %d times", n)
	}

	r.get(r.reg.meta.URL + "/p2/acme/foo.json")
	resp, body = r.get(u)
	if resp.StatusCode != 200 || body != "zip of 1.0.0" {
		t.Fatalf("learned archive: %d %s", resp.StatusCode, body)
	}
	if f := r.checker.asked[0]; f.ArchiveURL != u || f.Version != "1.0.0" || f.Package != "acme/foo" {
		t.Errorf("checker asked with %+v", f)
	}
	// A blocked version's archive gets the verdict.
	resp, body = r.get(r.reg.distURL("2.0.0"))
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "differs from the statement") {
		t.Errorf("blocked archive: %d %s", resp.StatusCode, body)
	}
	// Another URL on the same host is still refused.
	resp, _ = r.get(r.reg.meta.URL + "/dist/acme/foo/3.0.0.zip")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unnamed URL: %d", resp.StatusCode)
	}
	// So is a path of the upstream's that is no route of the front, in
	// enforce mode: it is not metadata sigil can check.
	resp, _ = r.get(r.reg.meta.URL + "/search.json?q=foo")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("search: %d", resp.StatusCode)
	}
}

// A refused URL is named without its query, in sigil's log and in the
// answer: a query may carry a token.
func TestUnknownURLQueryNotShown(t *testing.T) {
	var logs syncBuffer
	r := newRig(t, rigOptions{log: slog.New(slog.NewTextHandler(&logs, nil))})
	resp, body := r.get(r.reg.meta.URL + "/dist/acme/foo/9.zip?token=SECRET")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "has not seen metadata naming "+r.reg.meta.URL+"/dist/acme/foo/9.zip?…") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "/dist/acme/foo/9.zip") {
		t.Fatalf("the refusal is not logged:\n%s", logs.String())
	}
	if strings.Contains(body, "SECRET") || strings.Contains(logs.String(), "SECRET") {
		t.Errorf("the query was shown:\n%s\n%s", body, logs.String())
	}
}

func TestArchiveHostLearned(t *testing.T) {
	r := newRig(t, rigOptions{separateArchives: true})
	u := r.reg.distURL("1.0.0")
	host := strings.TrimPrefix(r.reg.archives.URL, "https://")

	// The archive host is no upstream: before metadata named it, CONNECT
	// is refused and nothing connects to it.
	resp, body, _ := r.connect(host)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no connection was made") {
		t.Errorf("CONNECT to an unlearned archive host: %d %s", resp.StatusCode, body)
	}
	if _, err := r.client().Get(u); err == nil {
		t.Error("GET through a refused CONNECT succeeded")
	}
	if n := r.reg.archiveHits.Load(); n != 0 {
		t.Errorf("archive host reached %d times", n)
	}

	r.get(r.reg.meta.URL + "/p2/acme/foo.json")
	resp, body = r.get(u)
	if resp.StatusCode != 200 || body != "zip of 1.0.0" {
		t.Fatalf("learned archive host: %d %s", resp.StatusCode, body)
	}
	// Same host, another port: another origin, not learned.
	other := "127.0.0.1:1"
	if resp, _, _ := r.connect(other); resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT %s: %d", other, resp.StatusCode)
	}
}

func TestUnknownHostRefusedWithoutConnecting(t *testing.T) {
	r := newRig(t, rigOptions{})
	target := newCountingListener(t)
	addr := target.Addr().String()

	resp, body, _ := r.connect(addr)
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(body, "sigil: refused CONNECT "+addr+": ") ||
		strings.Count(body, "\n") != 1 {
		t.Errorf("CONNECT: %d %q", resp.StatusCode, body)
	}
	// The same through a client, for https and for plain http.
	if _, err := r.client().Get("https://" + addr + "/"); err == nil {
		t.Error("https GET to an unknown host succeeded")
	}
	resp, body = r.get("http://" + addr + "/x")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "sigil: refused GET") {
		t.Errorf("plain GET: %d %s", resp.StatusCode, body)
	}
	// By name too: nothing is resolved.
	if resp, _, _ := r.connect("unknown.example.test:443"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT by name: %d", resp.StatusCode)
	}
	time.Sleep(50 * time.Millisecond) // a connection in flight would have landed
	if n := target.accepted.Load(); n != 0 {
		t.Fatalf("the unknown host received %d connections", n)
	}
}

func TestAllowListedTunnelled(t *testing.T) {
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "other") }))
	t.Cleanup(other.Close)
	host := strings.TrimPrefix(other.URL, "https://")
	r := newRig(t, rigOptions{allow: []string{host}})

	resp, err := r.client(other.Certificate()).Get(other.URL + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "other" {
		t.Errorf("tunnel: %s", b)
	}
	// Untouched: the client saw the host's own certificate, not sigil's.
	if !resp.TLS.PeerCertificates[0].Equal(other.Certificate()) {
		t.Error("an allowed host was intercepted")
	}
	// Plain HTTP to an allowed host and port is forwarded as it is.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plain") }))
	t.Cleanup(plain.Close)
	r2 := newRig(t, rigOptions{allow: []string{strings.TrimPrefix(plain.URL, "http://")}})
	if resp, body := r2.get(plain.URL + "/x"); resp.StatusCode != 200 || body != "plain" {
		t.Errorf("plain allowed: %d %s", resp.StatusCode, body)
	}
}

// An archive host that is also allowed (a code host that serves both
// archives and git, allowed for --prefer-source) is intercepted, not
// tunnelled, also before metadata named it (a lock-file install) and after
// the learned host expired: a tunnel would hand the client the archive
// unverified.
func TestArchiveHostInterceptedEvenIfAllowed(t *testing.T) {
	reg := newRegistry(t, true)
	host := strings.TrimPrefix(reg.archives.URL, "https://")
	r := newRig(t, rigOptions{reg: reg, allow: []string{host}, archiveHosts: []string{host}})
	client := r.client(reg.archives.Certificate())

	resp, err := client.Get(reg.distURL("2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "has not seen metadata naming") {
		t.Errorf("lock-file archive on an allowed archive host: %d %s", resp.StatusCode, b)
	}
	if !resp.TLS.PeerCertificates[0].Equal(r.ca.Certificate()) && resp.TLS.PeerCertificates[0].Issuer.CommonName != r.ca.Certificate().Subject.CommonName {
		t.Error("an allowed archive host was tunnelled, not intercepted")
	}
	if n := reg.archiveHits.Load(); n != 0 {
		t.Errorf("the client reached the archive host %d times past sigil", n)
	}
}

// A host that metadata names for archives, allowed but not among the
// archive hosts, is intercepted from then on: the operator is told, once,
// to name it as an archive host instead.
func TestLearnedAllowedHostWarned(t *testing.T) {
	reg := newRegistry(t, true)
	host := strings.TrimPrefix(reg.archives.URL, "https://")
	var logs syncBuffer
	r := newRig(t, rigOptions{reg: reg, allow: []string{host}, log: slog.New(slog.NewTextHandler(&logs, nil))})
	r.get(reg.meta.URL + "/p2/acme/foo.json")
	for range 2 {
		if resp, body := r.get(reg.distURL("1.0.0")); resp.StatusCode != 200 || body != "zip of 1.0.0" {
			t.Fatalf("learned archive: %d %s", resp.StatusCode, body)
		}
	}
	want := "--archive-host " + host
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("%d warnings naming %q, want 1:\n%s", n, want, logs.String())
	}
}

// An allowed host that metadata named for archives stays intercepted
// after the day a learned host is otherwise kept, across restarts: were
// it tunnelled again, a lock file's archive URL on it would reach the
// client unverified.
func TestLearnedAllowedHostNeverTunnelledAgain(t *testing.T) {
	reg := newRegistry(t, true)
	host := strings.TrimPrefix(reg.archives.URL, "https://")
	store, err := cache.Open("", cache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r := newRig(t, rigOptions{reg: reg, allow: []string{host}, store: store})
	r.get(reg.meta.URL + "/p2/acme/foo.json") // learns the archive host

	// Two days later, after a restart: the stored record of learned hosts
	// says when metadata last named each.
	ctx := context.Background()
	meta := proxy.StoreCache(store)
	key := "composer-forward " + reg.meta.URL + " origins"
	m, err := meta.GetMeta(ctx, key)
	if err != nil || !strings.Contains(string(m.Body), "https://"+host+" ") {
		t.Fatalf("no stored record naming the learned host: %q %v", m.Body, err)
	}
	old := strconv.FormatInt(time.Now().Add(-48*time.Hour).Unix(), 10)
	m.Body = regexp.MustCompile(` [0-9]+`).ReplaceAll(m.Body, []byte(" "+old))
	if err := meta.PutMeta(ctx, key, m); err != nil {
		t.Fatal(err)
	}
	later := newRig(t, rigOptions{reg: reg, allow: []string{host}, store: store})
	resp, err := later.client(reg.archives.Certificate()).Get(reg.distURL("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS.PeerCertificates[0].Equal(reg.archives.Certificate()) {
		t.Fatalf("a lock file's archive on an allowed host that metadata named was tunnelled: %d %s", resp.StatusCode, b)
	}
	if resp.StatusCode != 200 || string(b) != "zip of 1.0.0" {
		t.Errorf("learned archive, intercepted: %d %s", resp.StatusCode, b)
	}
}

// Requests inside an intercepted connection go through Wrap (serve's
// metadata budget), as requests on sigil's listener go through its
// handler's wrapping: the intercepted server is a listener of its own.
func TestInterceptedRequestsWrapped(t *testing.T) {
	var wrapped atomic.Int64
	r := newRig(t, rigOptions{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			wrapped.Add(1)
			next.ServeHTTP(w, req)
		})
	}})
	if resp, _ := r.get(r.reg.meta.URL + "/p2/acme/foo.json"); resp.StatusCode != 200 {
		t.Fatalf("p2: %d", resp.StatusCode)
	}
	if n := wrapped.Load(); n != 1 {
		t.Errorf("%d intercepted requests went through Wrap, want 1", n)
	}
}

func TestUpstreamInterceptedEvenIfAllowed(t *testing.T) {
	r := newRig(t, rigOptions{})
	// The upstream's host is allowed too (set after the fact: the rig
	// makes the registry, so its port is known only now).
	r.p.allow[strings.TrimPrefix(r.reg.meta.URL, "https://")] = true
	resp, _ := r.get(r.reg.meta.URL + "/packages.json")
	if resp.TLS.PeerCertificates[0].Issuer.CommonName != r.ca.Certificate().Subject.CommonName {
		t.Error("an allowed upstream was tunnelled, not intercepted")
	}
}

func TestHostNotPermittedByCA(t *testing.T) {
	r := newRig(t, rigOptions{})
	// An upstream at a name the CA does not cover.
	u, _ := url.Parse("https://localhost:1")
	p, err := New(Config{CA: r.ca, Upstreams: []Upstream{{URL: u, Front: http.NotFoundHandler()}}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	r.srv = srv
	resp, body, _ := r.connect("localhost:1")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "sigil ca init --dir NEWDIR --host localhost") ||
		!strings.Contains(body, "not permitted") {
		t.Errorf("CONNECT to a host the CA does not permit: %d %s", resp.StatusCode, body)
	}
}

func TestPlainHTTPUpstream(t *testing.T) {
	r := newRig(t, rigOptions{})
	// A second front for a plain-HTTP upstream: intercepted without TLS.
	plain := httptest.NewServer(http.HandlerFunc(r.reg.serveMeta))
	t.Cleanup(plain.Close)
	u, _ := url.Parse(plain.URL)
	p, err := New(Config{CA: r.ca, Upstreams: []Upstream{{URL: u, Front: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, "front "+req.Host+" "+req.URL.Path)
	})}}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	r.srv = httptest.NewServer(p)
	t.Cleanup(r.srv.Close)
	host := strings.TrimPrefix(plain.URL, "http://")
	if resp, body := r.get(plain.URL + "/packages.json"); resp.StatusCode != 200 || body != "front "+host+" /packages.json" {
		t.Errorf("plain upstream: %d %s", resp.StatusCode, body)
	}
	// An https request to a plain upstream's origin is another origin.
	if resp, _, _ := r.connect(host); resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT to a plain upstream's host: %d", resp.StatusCode)
	}
	// An absolute https URL without CONNECT is not proxied.
	c, err := net.Dial("tcp", r.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET https://"+host+"/packages.json HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("absolute https URL: %d", resp.StatusCode)
	}
}

func TestUpstreamTLSFailureIs502(t *testing.T) {
	r := newRig(t, rigOptions{untrusted: true})
	resp, body := r.get(r.reg.meta.URL + "/p2/acme/foo.json")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "certificate") {
		t.Errorf("untrusted upstream: %d %s", resp.StatusCode, body)
	}
}

func TestMisdirectedRequest(t *testing.T) {
	r := newRig(t, rigOptions{})
	host := strings.TrimPrefix(r.reg.meta.URL, "https://")
	_, _, c := r.connect(host)
	roots := r.client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	// The connection is for the upstream; the request names another host.
	io.WriteString(tc, "GET /packages.json HTTP/1.1\r\nHost: other.example.test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("status %d, want 421", resp.StatusCode)
	}
	if r.reg.metaHits.Load() != 0 {
		t.Error("the upstream was asked")
	}
}

// In warn mode as in enforce, an intercepted host serves only the exact
// archive URLs that served metadata named: warn mode relaxes verdicts, it
// does not open a door to every path of every host metadata named.
func TestWarnModeServesOnlyLearnedURLs(t *testing.T) {
	r := newRig(t, rigOptions{mode: policy.ModeWarn, separateArchives: true})
	r.get(r.reg.meta.URL + "/p2/acme/foo.json") // learns the archive host
	for _, u := range []string{
		r.reg.archives.URL + "/dist/acme/foo/1.0.0.zip?x=1", // not the URL metadata named
		r.reg.archives.URL + "/internal/admin",
		r.reg.meta.URL + "/dist/acme/foo/1.0.0.zip", // the upstream's host, a path no metadata named
	} {
		resp, body := r.get(u)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "has not seen metadata naming") {
			t.Errorf("warn mode, %s: %d %s; want 404 and the refusal", u, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Sigil-Verdict") != "" {
			t.Errorf("warn mode, %s: served unverified (%s)", u, resp.Header.Get("X-Sigil-Verdict"))
		}
	}
	if n := r.reg.archiveHits.Load(); n != 0 {
		t.Errorf("the archive host was asked %d times for URLs no metadata named", n)
	}
	// Hosts are still refused in warn mode.
	target := newCountingListener(t)
	if resp, _, _ := r.connect(target.Addr().String()); resp.StatusCode != http.StatusForbidden {
		t.Errorf("warn mode let an unknown host through: %d", resp.StatusCode)
	}
}

// A client's credentials are meant for the host it sends them to through
// sigil; sigil fetches on its own account and never passes them on, least
// of all to an archive host that metadata named.
func TestClientCredentialsNotForwarded(t *testing.T) {
	for _, mode := range []policy.Mode{policy.ModeEnforce, policy.ModeWarn} {
		r := newRig(t, rigOptions{mode: mode, separateArchives: true})
		send := func(u string) int {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer client-secret")
			req.Header.Set("Cookie", "session=client-secret")
			resp, err := r.client().Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", u, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		send(r.reg.meta.URL + "/p2/acme/foo.json")
		if st := send(r.reg.distURL("1.0.0")); st != http.StatusOK {
			t.Errorf("%s: learned archive: %d", mode, st)
		}
		send(r.reg.archives.URL + "/dist/acme/foo/other.zip")
		if n := r.reg.credentials.Load(); n != 0 {
			t.Errorf("%s: %d upstream requests carried the client's credentials", mode, n)
		}
		if r.reg.archiveHits.Load() == 0 {
			t.Errorf("%s: the learned archive was never fetched: the test proves nothing", mode)
		}
	}
}

func TestNonProxyRequests(t *testing.T) {
	r := newRig(t, rigOptions{})
	resp, err := http.Get(r.srv.URL + "/composer/packages.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "mirror /composer/packages.json" {
		t.Errorf("non-proxy request: %s", b)
	}
	// A proxy request for sigil's own address is a request for its
	// mirror routes (HTTP_PROXY set, mirror URL configured).
	if resp, body := r.get(r.srv.URL + "/composer/packages.json"); resp.StatusCode != 200 || body != "mirror /composer/packages.json" {
		t.Errorf("proxy request to sigil itself: %d %s", resp.StatusCode, body)
	}
	// CONNECT to sigil itself is refused.
	if resp, _, _ := r.connect(r.srv.Listener.Addr().String()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("CONNECT to sigil: %d", resp.StatusCode)
	}
}

func TestNonProxyOnly(t *testing.T) {
	target := newCountingListener(t)
	h := NonProxyOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "mirror "+r.URL.Path) }), testLogger(t), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := &rig{t: t, srv: srv, ca: testCA(t)}

	resp, body, _ := r.connect(target.Addr().String())
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "--ca-dir") {
		t.Errorf("CONNECT without a CA: %d %s", resp.StatusCode, body)
	}
	if resp, body := r.get("http://" + target.Addr().String() + "/x"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no forward proxy") {
		t.Errorf("plain proxy request without a CA: %d %s", resp.StatusCode, body)
	}
	if resp, body := r.get(srv.URL + "/composer/p"); resp.StatusCode != 200 || body != "mirror /composer/p" {
		t.Errorf("proxy request to sigil itself: %d %s", resp.StatusCode, body)
	}
	if n := target.accepted.Load(); n != 0 {
		t.Errorf("%d connections made", n)
	}
}

func TestCanonicalTarget(t *testing.T) {
	for in, want := range map[string]string{
		"Example.TEST:443":      "example.test:443",
		"example.test.:443":     "example.test:443",
		"example.test":          "example.test:443", // default port
		"127.0.0.1:0443":        "127.0.0.1:443",
		"[::1]:8443":            "[::1]:8443",
		"[::ffff:127.0.0.1]:1":  "127.0.0.1:1",
		"example.test:0":        "",
		"example.test:70000":    "",
		"example.test:+1":       "",
		"exa mple.test:443":     "",
		"a..b:443":              "",
		"[fe80::1%eth0]:443":    "",
		"user@example.test:443": "",
		":443":                  "",
	} {
		got, _, ok := canonicalTarget(in, "443")
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("canonicalTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAllow(t *testing.T) {
	for in, want := range map[string]string{
		"git.example.test":      "git.example.test:443 git.example.test:80",
		"git.example.test:8443": "git.example.test:8443",
		"[::1]:22":              "[::1]:22",
		"*.example.test":        "",
		"https://example.test":  "",
		"example.test/x":        "",
		"":                      "",
	} {
		got, err := parseAllow(in)
		if strings.Join(got, " ") != want || (err != nil) != (want == "") {
			t.Errorf("parseAllow(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestUpstreamsShareAnOrigin: a repository manager serves several
// registries on one host under different paths; each front gets its own.
func TestUpstreamsShareAnOrigin(t *testing.T) {
	r := newRig(t, rigOptions{})
	front := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { io.WriteString(w, name+" "+req.URL.Path) })
	}
	const host = "repo.example.test"
	at := func(p string) *url.URL { return &url.URL{Scheme: "https", Host: host, Path: p} }
	p, err := New(Config{CA: r.ca, Logger: testLogger(t), Upstreams: []Upstream{
		{URL: at("/"), Front: front("root")},
		{URL: at("/repository/npm/"), Front: front("npm")},
		{URL: at("/repository/npm-internal"), Front: front("internal")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for path, want := range map[string]string{
		"/repository/npm/left-pad":          "npm",
		"/repository/npm-internal/left-pad": "internal",
		"/repository/npm":                   "npm",
		"/repository/npmx":                  "root",
		"/packages.json":                    "root",
	} {
		req := httptest.NewRequest(http.MethodGet, "https://"+host+path, nil)
		req = req.WithContext(context.WithValue(req.Context(), originKey{}, "https://"+host+":443"))
		w := httptest.NewRecorder()
		p.serveIntercepted(w, req)
		if got, _, _ := strings.Cut(w.Body.String(), " "); got != want {
			t.Errorf("%s went to %q, want %q", path, w.Body.String(), want)
		}
	}
	if _, err := New(Config{CA: r.ca, Upstreams: []Upstream{{URL: at("/a/"), Front: front("1")}, {URL: at("/a"), Front: front("2")}}}); err == nil {
		t.Error("two upstreams at one origin and path accepted")
	}
}

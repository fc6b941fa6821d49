package forward

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/npm"
)

// TestNPMFront runs the npm front in forward mode behind the proxy: a
// packument is filtered, a tarball at the registry's own path is served by
// the front's route, and a tarball on another host (a CDN) only once a
// served packument named it.
func TestNPMFront(t *testing.T) {
	var cdnHits atomic.Int64
	cdn := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnHits.Add(1)
		io.WriteString(w, "tgz from the cdn")
	}))
	t.Cleanup(cdn.Close)
	var reg *httptest.Server
	reg = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version := func(name, v, tarball string) map[string]any {
			return map[string]any{"name": name, "version": v, "dist": map[string]any{"tarball": tarball, "integrity": "sha512-AAAA"}}
		}
		var doc map[string]any
		switch r.URL.Path {
		case "/left-pad":
			doc = map[string]any{"name": "left-pad", "dist-tags": map[string]any{"latest": "1.0.0"}, "versions": map[string]any{
				"1.0.0": version("left-pad", "1.0.0", reg.URL+"/left-pad/-/left-pad-1.0.0.tgz"),
				"2.0.0": version("left-pad", "2.0.0", reg.URL+"/left-pad/-/left-pad-2.0.0.tgz"),
			}}
		case "/cdn-pkg":
			doc = map[string]any{"name": "cdn-pkg", "dist-tags": map[string]any{"latest": "1.0.0"}, "versions": map[string]any{
				"1.0.0": version("cdn-pkg", "1.0.0", cdn.URL+"/cdn-pkg-1.0.0.tgz"),
			}}
		case "/left-pad/-/left-pad-1.0.0.tgz":
			io.WriteString(w, "tgz of left-pad")
			return
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(reg.Close)

	roots := x509.NewCertPool()
	roots.AddCert(reg.Certificate())
	roots.AddCert(cdn.Certificate())
	client := (&registry{roots: roots}).upstreamClient()
	store, err := cache.Open("", cache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	up, err := proxy.NewHTTPUpstream(proxy.UpstreamConfig{Client: client, Cache: proxy.StoreCache(store)})
	if err != nil {
		t.Fatal(err)
	}
	chk := &checker{client: client, block: map[string]string{"2.0.0": "left-pad@2.0.0: no logged statement"}}
	regURL, _ := url.Parse(reg.URL + "/")
	front, err := npm.New(npm.Config{
		UpstreamURL: regURL, Upstream: up, Checker: chk, Prefix: "/", Forward: true,
		Learned: proxy.StoreCache(store), RegistrySignatures: npm.SignaturesOff, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ca := testCA(t)
	p, err := New(Config{CA: ca, Upstreams: []Upstream{{URL: regURL, Front: front}}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	r := &rig{t: t, ca: ca, p: p, srv: httptest.NewServer(p)}
	t.Cleanup(r.srv.Close)

	resp, body := r.get(reg.URL + "/left-pad")
	var pk struct {
		Versions map[string]struct {
			Dist struct{ Tarball string }
		}
	}
	json.Unmarshal([]byte(body), &pk)
	if _, blocked := pk.Versions["2.0.0"]; resp.StatusCode != 200 || blocked || pk.Versions["1.0.0"].Dist.Tarball != reg.URL+"/left-pad/-/left-pad-1.0.0.tgz" {
		t.Errorf("packument: %d %s", resp.StatusCode, body)
	}
	if resp, body := r.get(reg.URL + "/left-pad/-/left-pad-1.0.0.tgz"); resp.StatusCode != 200 || body != "tgz of left-pad" {
		t.Errorf("tarball at the registry's path: %d %s", resp.StatusCode, body)
	}
	if resp, _ := r.get(reg.URL + "/left-pad/-/left-pad-2.0.0.tgz"); resp.StatusCode != http.StatusGone {
		t.Errorf("blocked tarball: %d", resp.StatusCode)
	}

	// The CDN is reached only after a served packument named it.
	cdnHost := strings.TrimPrefix(cdn.URL, "https://")
	if resp, _, _ := r.connect(cdnHost); resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT to the CDN before the packument: %d", resp.StatusCode)
	}
	r.get(reg.URL + "/cdn-pkg")
	if resp, body := r.get(cdn.URL + "/cdn-pkg-1.0.0.tgz"); resp.StatusCode != 200 || body != "tgz from the cdn" {
		t.Errorf("CDN tarball: %d %s", resp.StatusCode, body)
	}
	if resp, body := r.get(cdn.URL + "/other.tgz"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("unnamed CDN URL: %d %s", resp.StatusCode, body)
	}
	if n := cdnHits.Load(); n != 1 {
		t.Errorf("the CDN was asked %d times, want once (by the checker)", n)
	}
}

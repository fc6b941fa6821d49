package composer

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
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

package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
)

func TestHealthz(t *testing.T) {
	e := newTestEnv(t, &policy.Config{Mode: policy.ModeWarn})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.v.now = func() time.Time { return now }
	get := func() (int, Health, string) {
		rec := httptest.NewRecorder()
		e.v.Healthz(rec, httptest.NewRequest("GET", "/-/healthz", nil))
		var h Health
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		return rec.Code, h, rec.Body.String()
	}
	if code, h, _ := get(); code != 200 || h.Status != "ok" || h.Mode != "warn" || h.Checks["log"].Status != "unused" || h.Checks["cache"].Status != "ok" {
		t.Errorf("fresh: %d %+v", code, h)
	}
	e.v.Versions(context.Background(), release.Composer, "acme/foo", nil)
	if code, h, _ := get(); code != 200 || h.LogSize != 10 || h.Checks["log"].Status != "ok" || !h.Checks["log"].LastSuccess.Equal(now) {
		t.Errorf("after a lookup: %d %+v", code, h)
	}
	okAt := now
	now = now.Add(time.Minute)
	e.log.set(0, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused to lookup acme/secret-project")})
	e.v.Versions(context.Background(), release.Composer, "acme/secret-project", nil)
	code, h, body := get()
	lc := h.Checks["log"]
	if code != 200 || h.Status != "degraded" || lc.Status != "degraded" || lc.Reason != "the release log cannot be reached" || !lc.LastSuccess.Equal(okAt) {
		t.Errorf("log down: %d %s", code, body)
	}
	if strings.Contains(body, "secret-project") {
		t.Errorf("healthz names another request's package: %s", body)
	}
	e.cache.err = errors.New("disk on fire")
	if code, h, _ := get(); code != http.StatusServiceUnavailable || h.Status != "degraded" || !strings.Contains(h.Checks["cache"].Reason, "disk on fire") {
		t.Errorf("cache broken: %d %+v", code, h)
	}
}

// Without a release log the log check says so, and the proxy is not
// degraded for it: running without a log is a choice, not a failure.
func TestHealthzNoLog(t *testing.T) {
	v, err := NewVerifier(VerifierConfig{Log: NoLog{}, Policy: &policy.Config{Mode: policy.ModeEnforce}, Cache: newMemCache(), TempDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for range 2 { // before and after a lookup
		rec := httptest.NewRecorder()
		v.Healthz(rec, httptest.NewRequest("GET", "/-/healthz", nil))
		var h Health
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		if lc := h.Checks["log"]; rec.Code != 200 || h.Status != "ok" || lc.Status != "none" || !strings.Contains(lc.Reason, "no release log is configured") || lc.LastSuccess != nil {
			t.Errorf("no log: %d %s", rec.Code, rec.Body)
		}
		v.Versions(context.Background(), release.Composer, "acme/foo", nil)
	}
}

func TestHealthzUpstream(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	u, err := NewHTTPUpstream(UpstreamConfig{Cache: newMemCache(), Client: srv.Client(), MaxAge: -1}) // every request asks
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, nil)
	get := func() Health {
		rec := httptest.NewRecorder()
		Healthz(e.v, u)(rec, httptest.NewRequest("GET", "/-/healthz", nil))
		var h Health
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	key := "upstream " + srv.URL
	u.Document(context.Background(), srv.URL+"/p2/acme/private-thing.json")
	if h := get(); h.Checks[key].Status != "ok" || h.Checks[key].LastSuccess == nil {
		t.Errorf("upstream up: %+v", h.Checks)
	}
	status = http.StatusBadGateway
	u.Document(context.Background(), srv.URL+"/p2/acme/private-thing.json")
	h := get()
	if c := h.Checks[key]; h.Status != "degraded" || c.Status != "degraded" || c.Reason != "answers HTTP 502 Bad Gateway" || c.LastSuccess == nil {
		t.Errorf("upstream failing: %+v", h)
	}
	b, _ := json.Marshal(h)
	if strings.Contains(string(b), "private-thing") {
		t.Errorf("healthz names a request's document: %s", b)
	}
}

// TestHealthzCacheSize: the health check shows how much the cache holds
// and its cap, as two numbers and nothing about what is in it.
func TestHealthzCacheSize(t *testing.T) {
	store, err := cache.Open("", cache.Options{InMemory: true, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.PutMeta(t.Context(), "https://registry.test/acme/foo", cache.Meta{Body: []byte(`{"secret-package":1}`)}); err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Log: &fakeLog{size: 1}, Policy: &policy.Config{}, Cache: StoreCache(store), TempDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	rec := httptest.NewRecorder()
	v.Healthz(rec, httptest.NewRequest("GET", "/-/healthz", nil))
	var h Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	used, _ := store.Usage()
	if rec.Code != 200 || h.CacheBytes != used || used == 0 || h.CacheMaxBytes != 1<<20 {
		t.Errorf("%d %+v, want cache_bytes %d and cache_max_bytes %d", rec.Code, h, used, 1<<20)
	}
	if strings.Contains(rec.Body.String(), "secret-package") || strings.Contains(rec.Body.String(), "acme") {
		t.Errorf("healthz names what the cache holds: %s", rec.Body)
	}
}

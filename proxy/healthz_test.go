package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
)

func TestHealthz(t *testing.T) {
	e := newTestEnv(t, &policy.Config{Mode: policy.ModeWarn})
	get := func() (int, Health) {
		rec := httptest.NewRecorder()
		e.v.Healthz(rec, httptest.NewRequest("GET", "/-/healthz", nil))
		var h Health
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		return rec.Code, h
	}
	if code, h := get(); code != 200 || h != (Health{Status: "ok", Mode: "warn", Cache: "ok"}) {
		t.Errorf("fresh: %d %+v", code, h)
	}
	e.v.Versions(context.Background(), release.Composer, "acme/foo", nil)
	if code, h := get(); code != 200 || h.LogSize != 10 || h.LogError != "" {
		t.Errorf("after a lookup: %d %+v", code, h)
	}
	e.log.set(0, errors.New("log unreachable"))
	e.v.Versions(context.Background(), release.Composer, "acme/bar", nil)
	if code, h := get(); code != 200 || h.LogSize != 10 || h.LogError != "log unreachable" {
		t.Errorf("log down: %d %+v", code, h)
	}
	e.cache.err = errors.New("disk on fire")
	if code, h := get(); code != http.StatusServiceUnavailable || h.Status != "degraded" || h.Cache != "disk on fire" {
		t.Errorf("cache broken: %d %+v", code, h)
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

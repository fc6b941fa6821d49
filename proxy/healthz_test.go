package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

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

package proxy

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sigilproxy/sigil/cache"
)

// healthProbeKey is a metadata key no document has: reading it exercises
// the cache without touching anything.
const healthProbeKey = "sigil:healthz"

// Health is the body of /-/healthz.
type Health struct {
	// Status is "ok", or "degraded" when the cache cannot be read.
	Status string `json:"status"`
	// Mode is the top-level policy mode.
	Mode string `json:"mode"`
	// LogSize is the size of the newest log checkpoint proven since start,
	// absent before the first lookup.
	LogSize uint64 `json:"log_size,omitempty"`
	// LogError is the error of the last lookup, absent when it succeeded.
	LogError string `json:"log_error,omitempty"`
	// Cache is "ok" or the error reading it.
	Cache string `json:"cache"`
	// CacheBytes is what the cache's archives and metadata documents take
	// (aggregate: nothing about what they are); CacheMaxBytes the cap they
	// are evicted to stay under, absent without one.
	CacheBytes    int64 `json:"cache_bytes"`
	CacheMaxBytes int64 `json:"cache_max_bytes,omitempty"`
}

// usageReporter is a cache that knows its size (*cache.Store).
type usageReporter interface {
	Usage() (used, max int64)
}

// Healthz answers /-/healthz: 200 and a small JSON Health when the cache
// can be read, 503 otherwise. The release log is reported, not required:
// an unreachable log makes verdicts fail closed, which is the proxy working
// as intended, and a load balancer should not restart it for that.
func (v *Verifier) Healthz(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", Mode: string(v.policy.TopLevel().Mode), Cache: "ok"}
	size, err := v.evidence.logState()
	h.LogSize = size
	if err != nil {
		h.LogError = err.Error()
	}
	if u, ok := v.cache.(usageReporter); ok {
		h.CacheBytes, h.CacheMaxBytes = u.Usage()
	}
	status := http.StatusOK
	if _, err := v.cache.GetMeta(r.Context(), healthProbeKey); err != nil && !errors.Is(err, cache.ErrNotFound) {
		h.Status, h.Cache, status = "degraded", err.Error(), http.StatusServiceUnavailable
	}
	b, _ := json.Marshal(h)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/tlog"
)

// healthProbeKey is a metadata key no document has: reading it exercises
// the cache without touching anything.
const healthProbeKey = "sigil:healthz"

// Health is the body of /-/healthz. It holds aggregate state only: what
// each part sigil depends on did last, never what a request asked for
// (no package, version or URL of anybody's request), since anyone who can
// reach sigil can read it.
type Health struct {
	// Status is "ok", or "degraded" when any check is.
	Status string `json:"status"`
	// Mode is the top-level policy mode.
	Mode string `json:"mode"`
	// LogSize is the size of the newest log checkpoint proven since start,
	// absent before the first lookup.
	LogSize uint64 `json:"log_size,omitempty"`
	// CacheBytes is what the cache's archives and metadata documents take
	// (aggregate: nothing about what they are); CacheMaxBytes the cap they
	// are evicted to stay under, absent without one.
	CacheBytes    int64 `json:"cache_bytes"`
	CacheMaxBytes int64 `json:"cache_max_bytes,omitempty"`
	// Checks are the parts sigil depends on, by name: "cache", "log", and
	// "upstream " followed by each upstream origin.
	Checks map[string]Check `json:"checks"`
}

// usageReporter is a cache that knows its size (*cache.Store).
type usageReporter interface {
	Usage() (used, max int64)
}

// Check is the state of one part.
type Check struct {
	// Status is "ok", "degraded" (its last use failed), "unused" (not
	// used since sigil started) or "none" (sigil runs without it: the log
	// when --log is not set).
	Status string `json:"status"`
	// Reason says, for a degraded part, what kind of failure it was.
	Reason string `json:"reason,omitempty"`
	// LastSuccess is when the part last worked, absent if never since
	// start.
	LastSuccess *time.Time `json:"last_success,omitempty"`
}

// Check statuses.
const (
	statusOK       = "ok"
	statusDegraded = "degraded"
	statusUnused   = "unused"
	statusNone     = "none"
)

// HealthSource is a part that reports checks to /-/healthz: the Verifier
// (cache, log) and each HTTPUpstream. Checks must be cheap and must say
// nothing of any one request.
type HealthSource interface {
	HealthChecks(ctx context.Context) map[string]Check
}

// Healthz returns the handler of /-/healthz: 200 and a JSON Health, or
// 503 when the cache cannot be read. A degraded log or upstream is
// reported, not a 503: verdicts then fail closed (or upstream documents
// come from the cache), which is the proxy working as intended, and a
// load balancer should not restart it for that.
func Healthz(v *Verifier, more ...HealthSource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := Health{Status: statusOK, Mode: string(v.policy.TopLevel().Mode), Checks: map[string]Check{}}
		h.LogSize = v.evidence.logSize()
		if u, ok := v.cache.(usageReporter); ok {
			h.CacheBytes, h.CacheMaxBytes = u.Usage()
		}
		for _, s := range append([]HealthSource{v}, more...) {
			maps.Copy(h.Checks, s.HealthChecks(r.Context()))
		}
		for _, c := range h.Checks {
			if c.Status == statusDegraded {
				h.Status = statusDegraded
			}
		}
		status := http.StatusOK
		if h.Checks["cache"].Status == statusDegraded {
			status = http.StatusServiceUnavailable
		}
		b, _ := json.Marshal(h)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		w.Write(append(b, '\n'))
	}
}

// Healthz serves /-/healthz for the Verifier alone (see the function).
func (v *Verifier) Healthz(w http.ResponseWriter, r *http.Request) { Healthz(v)(w, r) }

// HealthChecks reports the cache, probed now, and the release log, as
// its last lookup left it.
func (v *Verifier) HealthChecks(ctx context.Context) map[string]Check {
	now := v.now()
	c := Check{Status: statusOK, LastSuccess: &now}
	if _, err := v.cache.GetMeta(ctx, healthProbeKey); err != nil && !errors.Is(err, cache.ErrNotFound) {
		// The store's own error names no request.
		c = Check{Status: statusDegraded, Reason: "the cache cannot be read: " + err.Error()}
	}
	lc := v.evidence.reach.check()
	if _, ok := v.log.(NoLog); ok {
		lc = Check{Status: statusNone, Reason: "no release log is configured (--log): every package is unsigned"}
	}
	return map[string]Check{"cache": c, "log": lc}
}

// reach is what a part did last, for the health check: when it last
// worked and, if it failed since, what kind of failure that was.
type reach struct {
	mu       sync.Mutex
	lastOK   time.Time
	lastFail time.Time
	reason   string
}

func (r *reach) ok(t time.Time) {
	r.mu.Lock()
	r.lastOK = t
	r.mu.Unlock()
}

// fail records a failure; reason must name a kind of failure, never a
// request's package or URL.
func (r *reach) fail(t time.Time, reason string) {
	r.mu.Lock()
	r.lastFail, r.reason = t, reason
	r.mu.Unlock()
}

func (r *reach) check() Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := Check{Status: statusOK}
	if !r.lastOK.IsZero() {
		t := r.lastOK
		c.LastSuccess = &t
	}
	switch {
	case !r.lastFail.IsZero() && !r.lastFail.Before(r.lastOK):
		c.Status, c.Reason = statusDegraded, r.reason
	case r.lastOK.IsZero():
		c.Status = statusUnused
	}
	return c
}

// logFailure names the kind of a failed log lookup. The error itself
// names the package looked up, another client's business.
func logFailure(err error) string {
	var cpErr *tlog.CheckpointError
	switch {
	case errors.Is(err, tlog.ErrSecurity):
		return "SECURITY ERROR: the release log misbehaved; see sigil's log and 'sigil log evidence'"
	case errors.As(err, &cpErr):
		return "the release log's checkpoint does not verify (log key or witnesses); see sigil's log"
	case unreachable(err):
		return "the release log cannot be reached"
	}
	return "release log lookups fail; see sigil's log"
}

// unreachable reports whether err is a failure to get any answer: a
// network error or a timeout.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

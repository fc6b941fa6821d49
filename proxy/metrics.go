package proxy

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigilproxy/sigil/policy"
)

// Metrics counts what sigil does, for /-/metrics (Prometheus' text
// format). No label carries a package name, a version or a URL, so the
// number of series stays bounded whatever clients ask for: the fronts,
// status classes, verdict actions and reason classes are short fixed
// lists. A nil *Metrics counts nothing, so every part works without one.
type Metrics struct {
	requests  *prometheus.CounterVec   // front, code
	bytes     *prometheus.CounterVec   // front
	metadata  *prometheus.CounterVec   // result
	upstream  *prometheus.HistogramVec // kind
	verdicts  *prometheus.CounterVec   // what, action, class
	lookups   *prometheus.CounterVec   // result
	rendered  *prometheus.CounterVec   // front, result
	refreshes prometheus.Counter
}

// NewMetrics makes sigil's collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_requests_total",
			Help: "HTTP requests answered, by front (composer, npm; forward for forward mode's tunnels and refusals) and status class (2xx...).",
		}, []string{"front", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_response_bytes_total",
			Help: "Body bytes served to clients, by front.",
		}, []string{"front"}),
		metadata: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_metadata_documents_total",
			Help: "Upstream metadata documents asked for, by how they were answered: fresh (stored copy within --metadata-max-age), stale (stored copy served while it is refreshed in the background), revalidated (upstream said 304), fetched (upstream sent a new copy), offline (stored copy served because the upstream failed), miss (nothing stored: the client waited for the upstream).",
		}, []string{"result"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sigil_upstream_request_duration_seconds",
			Help:    "Time of upstream requests, to the end of the body, by kind (metadata, archive).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"kind"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_verdicts_total",
			Help: "Verdicts, by what was decided (version, archive), action (allow, warn, block) and reason class (signed, unsigned, unsigned_mismatch, unverified, log_unavailable).",
		}, []string{"what", "action", "class"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_log_lookups_total",
			Help: "Release log lookups, by result: reused (evidence still fresh), ok, error.",
		}, []string{"result"}),
		rendered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_rendered_documents_total",
			Help: "Served metadata documents, by front and whether the rendered document was reused (hit) or rendered (miss).",
		}, []string{"front", "result"}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigil_metadata_refreshes_skipped_total",
			Help: "Background refreshes of stale metadata not started because too many were already running.",
		}),
	}
	reg.MustRegister(m.requests, m.bytes, m.metadata, m.upstream, m.verdicts, m.lookups, m.rendered, m.refreshes)
	return m
}

// Instrument counts the requests h answers and the body bytes it writes,
// under front.
func (m *Metrics) Instrument(front string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Serve(front, w, func(w http.ResponseWriter) bool {
			h.ServeHTTP(w, r)
			return true
		})
	})
}

// Serve runs serve with a writer that counts what it answers under front,
// as Instrument does, for a handler that may decline a request: serve
// reports whether it answered, and a declined request (nothing written) is
// not counted. It returns what serve returned. A nil m only runs serve.
func (m *Metrics) Serve(front string, w http.ResponseWriter, serve func(http.ResponseWriter) bool) bool {
	if m == nil {
		return serve(w)
	}
	cw := &countingWriter{ResponseWriter: w}
	if !serve(cw) {
		return false
	}
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	m.Count(front, cw.status)
	m.bytes.WithLabelValues(front).Add(float64(cw.n))
	return true
}

// Count counts one request answered under front with status, for answers
// no handler writes through Instrument: forward mode's tunnels and
// refusals. A nil m counts nothing.
func (m *Metrics) Count(front string, status int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(front, strconv.Itoa(status/100)+"xx").Inc()
}

// Rendered counts one served metadata document of front: reused (hit) or
// rendered anew.
func (m *Metrics) Rendered(front string, hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.rendered.WithLabelValues(front, result).Inc()
}

func (m *Metrics) metadataResult(result string) {
	if m != nil {
		m.metadata.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) upstreamTime(kind string, start time.Time) {
	if m != nil {
		m.upstream.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) lookup(result string) {
	if m != nil {
		m.lookups.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) refreshSkipped() {
	if m != nil {
		m.refreshes.Inc()
	}
}

func (m *Metrics) verdict(what string, ev *policy.Evidence, vd policy.Verdict) {
	if m != nil {
		m.verdicts.WithLabelValues(what, vd.Action.String(), reasonClass(ev, vd)).Inc()
	}
}

// reasonClass sorts a verdict into one of a few classes, for a label.
func reasonClass(ev *policy.Evidence, vd policy.Verdict) string {
	switch {
	case ev == nil || ev.Err != nil || ev.Trust == nil:
		return "log_unavailable"
	case vd.Signed:
		return "signed"
	case ev.Unsigned() && !vd.Failed:
		return "unsigned"
	case ev.Unsigned():
		return "unsigned_mismatch"
	}
	return "unverified"
}

// countingWriter records the status and counts the body bytes written
// through it. ReadFrom passes through, so that serving a file keeps the
// server's fast path.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(writerOnly{w.ResponseWriter}, r)
		w.n += n
		return n, err
	}
	n, err := rf.ReadFrom(r)
	w.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer (Flush,
// deadlines, Hijack for the forward proxy's CONNECT).
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes through, for writers that stream.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// writerOnly hides every method but Write, so that io.Copy does not call
// ReadFrom again.
type writerOnly struct{ io.Writer }

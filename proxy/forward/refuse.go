package forward

import (
	"log/slog"
	"net/http"

	"github.com/sigilproxy/sigil/proxy"
)

// NonProxyOnly returns next behind a guard for a sigil without a CA, which
// is no forward proxy: a proxy request (CONNECT, or an absolute URL for
// another address than sigil's own) is refused with 403 and a hint, and
// nothing is dialled; every other request goes to next. log (nil: discard)
// gets a line per refusal, and metrics (nil: none) counts each under the
// front "forward", as a Proxy does.
func NonProxyOnly(next http.Handler, log *slog.Logger, metrics *proxy.Metrics) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && !r.URL.IsAbs() {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodConnect && r.URL.Scheme == "http" {
			if hp, _, ok := canonicalTarget(r.URL.Host, "80"); ok && isSelf(r.Context(), hp) {
				next.ServeHTTP(w, originForm(r))
				return
			}
		}
		target := r.URL.Host
		log.Warn("forward: refused a proxy request: forward mode is off", "method", r.Method, "target", target, "client", r.RemoteAddr)
		metrics.Count(metricsFront, http.StatusForbidden)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(refusalLine(r.Method, decision{target: target,
			reason: "sigil runs without a CA, so it is no forward proxy (start it with --ca-dir DIR, made by 'sigil ca init')"})))
	})
}

package npm

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"

	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// Every status sigil answers is chosen by proxy.StatusOf (front.Core.Fail)
// and written here, with two rules from npm's client:
//
//   - 401 makes npm ask for a login or an OTP, and 403 reads as "no
//     access"; no verdict and no failure is ever answered with them.
//   - Any answer of 400 or more has its JSON "error" printed after the
//     status and URL (npm-registry-fetch lib/errors.js,
//     HttpErrorGeneral): "npm error 410 Gone - GET <url> - <error>". Every
//     refusal and failure says why in it. A blocked tarball is 410, which
//     npm neither retries (make-fetch-happen retries 408, 420, 429 and
//     5xx) nor reads as a missing package.

const contentTypeJSON = "application/json"

// notFound is the fast answer for anything unknown, with the registry's
// own body, which npm prints as "404 Not Found - GET <url> - Not found".
func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "Not found")
}

// readOnly refuses a write: sigil is a mirror.
func readOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, "sigil is a read-only mirror: "+r.Method+" requests (publish, unpublish, dist-tag, login) go to the registry itself")
}

// writeError answers status with {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"error":`), rawjson.AppendString(nil, msg)...)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Packuments carry sigil's own validators (front.Core.ServeDocument);
// npm's cache revalidates with both If-None-Match and If-Modified-Since.

// memPins is the default KeyPins: PinNPMKeys's contract in memory.
type memPins struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func newMemPins() *memPins { return &memPins{m: map[string]map[string]string{}} }

func (p *memPins) PinNPMKeys(ctx context.Context, registry string, keys map[string]string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pinned := p.m[registry]
	if pinned == nil {
		pinned = map[string]string{}
		p.m[registry] = pinned
	}
	for id, k := range keys {
		if _, ok := pinned[id]; !ok {
			pinned[id] = k
		}
	}
	return maps.Clone(pinned), nil
}

// headerValue makes s safe for a header: one line of printable ASCII
// (Node's HTTP parser takes nothing else for granted), bounded.
func headerValue(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return ' '
		case r > 0x7f:
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

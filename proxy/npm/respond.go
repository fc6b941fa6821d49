package npm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// Every status sigil answers is chosen here, with two rules from npm's
// client:
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
	b := append([]byte(`{"error":`), appendString(nil, msg)...)
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

// fail answers err with the status proxy.StatusOf gives it (the one
// mapping of errors to statuses): the registry's 404 for ErrNotFound,
// nothing if the client went away, otherwise an error that names what
// failed.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return // the client is gone; nobody reads an answer
	}
	var blocked *proxy.BlockedError
	switch status := proxy.StatusOf(err); {
	case status == http.StatusNotFound:
		notFound(w)
	case errors.As(err, &blocked):
		writeError(w, status, "sigil blocked: "+blockedReason(blocked))
	default:
		h.log.Warn("npm: request failed", "what", what, "status", status, "err", err)
		writeError(w, status, "sigil could not serve "+what+": "+err.Error())
	}
}

func blockedReason(b *proxy.BlockedError) string {
	if r := b.Verdict.Reason(); r != "" {
		return r
	}
	return b.Facts.Package + "@" + b.Facts.Version
}

// malformed is an upstream document sigil cannot use: the upstream's
// fault, so a 502.
func malformed(url string, err error) error {
	return &proxy.UpstreamError{URL: url, Err: err}
}

// serveDocument answers a document sigil built, with its own validators:
// an ETag of the bytes and a Last-Modified that moves only when they
// change. http.ServeContent answers If-None-Match and If-Modified-Since
// (npm's cache revalidates with both) with 304.
func (h *Handler) serveDocument(w http.ResponseWriter, r *http.Request, key string, body []byte, ctype string, noStore bool) {
	sum := sha256.Sum256(body)
	lastModified, err := h.served.ServedState(r.Context(), key, sum[:])
	if err != nil {
		// Without a Last-Modified the client cannot revalidate, which
		// costs a transfer and nothing else.
		h.log.Warn("npm: served state", "key", key, "err", err)
		lastModified = time.Time{}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	// Verdicts can change while the bytes sit in a cache: make every
	// cache ask again (a 304 is cheap), or keep none (see npm-notice).
	if noStore {
		hdr.Set("Cache-Control", "no-store")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", lastModified, bytes.NewReader(body))
}

// memServed is the default ServedStore: ServedState's contract in memory.
type memServed struct {
	mu sync.Mutex
	m  map[string]memState
}

type memState struct {
	digest string
	t      time.Time
}

func newMemServed() *memServed { return &memServed{m: map[string]memState{}} }

func (s *memServed) ServedState(ctx context.Context, key string, digest []byte) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[key]
	if ok && old.digest == string(digest) {
		return old.t, nil
	}
	t := time.Now().UTC().Truncate(time.Second)
	if ok && !t.After(old.t) {
		t = old.t.Add(time.Second)
	}
	s.m[key] = memState{digest: string(digest), t: t}
	return t, nil
}

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

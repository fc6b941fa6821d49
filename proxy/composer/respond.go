package composer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// Errors get their status from proxy.StatusOf; how an answer is written is
// decided here, by two rules from Composer's downloader
// (src/Composer/Util/Http/CurlDownloader.php, Composer 2.5):
//
//   - 401 and 403 make Composer prompt for credentials, so no verdict and no
//     failure is ever answered with them.
//   - A response of 400 or more whose Content-Type is exactly
//     "application/json" has its "warning"/"warnings" printed
//     (HttpDownloader::outputWarnings), and its first 200 bytes go into the
//     exception message. Refusals and failures use that to say why; plain
//     404s do not, because Composer probes names that do not exist (every
//     "~dev" file, for one) and would print a line for each.

const contentTypeJSON = "application/json" // exactly: Composer compares the header byte for byte

// notFound is the fast answer for anything unknown.
func notFound(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("not found\n"))
}

// writeWarning answers status with {"warning": msg}, which Composer prints
// as "Warning from <url>: msg".
func writeWarning(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"warning":`), appendString(nil, msg)...)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail answers err, with the status proxy.StatusOf gives it (the one
// mapping of errors to statuses): a plain 404 for ErrNotFound, nothing if
// the client went away, otherwise a JSON warning that names what failed.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return // the client is gone; nobody reads an answer
	}
	var blocked *proxy.BlockedError
	switch status := proxy.StatusOf(err); {
	case status == http.StatusNotFound:
		notFound(w)
	case errors.As(err, &blocked):
		writeWarning(w, status, "sigil blocked: "+blockedReason(blocked))
	default:
		h.log.Warn("composer: request failed", "what", what, "status", status, "err", err)
		writeWarning(w, status, "sigil could not serve "+what+": "+err.Error())
	}
}

// malformed is an upstream document sigil cannot use: the upstream's
// fault, so a 502.
func malformed(url string, err error) error {
	return &proxy.UpstreamError{URL: url, Err: err}
}

// serveDocument answers a JSON document sigil built, with its own
// validators: an ETag of the bytes and a Last-Modified that moves only when
// they change. http.ServeContent answers If-None-Match and
// If-Modified-Since (Composer sends the latter with the Last-Modified it
// stored, ComposerRepository::asyncFetchFile) with 304.
func (h *Handler) serveDocument(w http.ResponseWriter, r *http.Request, key string, body []byte) {
	sum := sha256.Sum256(body)
	lastModified, err := h.served.ServedState(r.Context(), key, sum[:])
	if err != nil {
		// Without a Last-Modified the client cannot revalidate, which
		// costs a transfer and nothing else.
		h.log.Warn("composer: served state", "key", key, "err", err)
		lastModified = time.Time{}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentTypeJSON)
	hdr.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	// Verdicts can change while the bytes sit in a shared cache; make
	// every cache ask again (it is cheap: a 304).
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", lastModified, bytes.NewReader(body))
}

// stateKey is the served-state key of a document: its public URL, so that
// documents served under different hosts (when PublicURL is unset) keep
// apart.
func stateKey(base, prefix, path string) string {
	return "composer " + base + prefix + path
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

// headerValue makes s safe for a header: one line, bounded.
func headerValue(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

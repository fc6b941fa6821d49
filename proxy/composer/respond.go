package composer

import (
	"net/http"
	"strings"

	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// Errors get their status from proxy.StatusOf (front.Core.Fail); how an
// answer is written is decided here, by two rules from Composer's downloader
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
	b := append([]byte(`{"warning":`), rawjson.AppendStringHTML(nil, msg)...)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Served documents carry sigil's own validators (front.Core.ServeDocument);
// Composer revalidates with If-Modified-Since and the Last-Modified it
// stored (ComposerRepository::asyncFetchFile), and gets a 304.

// stateKey is the served-state key of a document: its path under the
// mount, never the Host the client sent, so that a client cannot make sigil
// store a record per Host header. Without PublicURL, a document served
// under two host names has two bodies; their Last-Modified then moves each
// time the other is served, which costs a transfer and is never a wrong 304
// (the ETag is the body's).
func stateKey(prefix, path string) string {
	return "composer " + prefix + path
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

package front

import (
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// chunkWriteTimeout bounds each write of a plain archive answer. The
// cache's blob writes each chunk (1 MiB) under a read lock of the file that
// holds it, so a client that stops reading must not hold it for ever; a
// client slower than a chunk a minute is cut off.
const chunkWriteTimeout = time.Minute

// ServeArchive answers with archive a: its sha256 as ETag, when sigil
// verified it as Last-Modified, and "no-cache" so that a later revocation
// reaches clients behind shared caches. A plain GET (what package managers
// send) is written straight from the cache with the body's WriteTo when it
// has one: no buffer per request, one copy. Range, conditional and HEAD
// requests go through http.ServeContent.
func ServeArchive(w http.ResponseWriter, r *http.Request, a *proxy.Archive, contentType string) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("ETag", `"`+hex.EncodeToString(a.SHA256[:])+`"`)
	if hdr.Get("Cache-Control") == "" {
		// A later revocation must reach clients behind shared caches.
		// A front that says more (no-store) has set it.
		hdr.Set("Cache-Control", "no-cache")
	}
	wt, ok := a.Body.(io.WriterTo)
	if !ok || r.Method != http.MethodGet || r.Header.Get("Range") != "" ||
		r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" ||
		r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != "" {
		http.ServeContent(w, r, "", a.ModTime, a.Body)
		return
	}
	if !a.ModTime.IsZero() {
		hdr.Set("Last-Modified", a.ModTime.UTC().Format(http.TimeFormat))
	}
	hdr.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	w.WriteHeader(http.StatusOK)
	// A write error is the client's going away; the status is sent.
	wt.WriteTo(deadlineWriter{w, http.NewResponseController(w)})
}

// deadlineWriter gives each write chunkWriteTimeout.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	// An error means the writer has no deadlines (a test recorder): write
	// without one.
	_ = d.rc.SetWriteDeadline(time.Now().Add(chunkWriteTimeout))
	return d.w.Write(p)
}

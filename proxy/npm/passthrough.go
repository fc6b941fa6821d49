package npm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// The endpoints passed through to the upstream carry no packages: the
// registry's signing keys (npm audit signatures reads them), attestations,
// and the audit endpoints, which take the installed tree and return
// advisories. sigil forwards them as they are, with no client credentials.

const (
	// maxAuditBody bounds an audit request. npm sends the bulk request
	// gzipped (a name and its versions per installed package); the
	// largest trees send a few megabytes uncompressed.
	maxAuditBody = 16 << 20
	// auditTimeout bounds one audit request upstream.
	auditTimeout = 60 * time.Second
)

// passDocument answers with the upstream's document at u, fetched through
// the Upstream (and so cached).
func (h *Handler) passDocument(w http.ResponseWriter, r *http.Request, u string) {
	doc, err := h.upstream.Document(r.Context(), u)
	if err != nil {
		h.core.Fail(w, r, u, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-cache")
	if doc.Stale {
		hdr.Set("X-Sigil-Stale", "upstream unreachable; serving its last copy")
	}
	writeJSON(w, http.StatusOK, doc.Body)
}

// passAudit posts the request's body to u and answers with the upstream's
// answer.
func (h *Handler) passAudit(w http.ResponseWriter, r *http.Request, u string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAuditBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("sigil: audit request larger than %d bytes", maxAuditBody))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "sigil: reading the audit request: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), auditTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		h.core.Fail(w, r, "the audit", err)
		return
	}
	for _, k := range []string{"Content-Type", "Content-Encoding", "Accept", "Npm-Command"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.core.Fail(w, r, "the audit", &proxy.UpstreamError{URL: u, Err: err})
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, proxy.DefaultMaxDocumentSize+1))
	switch {
	case err != nil:
		h.core.Fail(w, r, "the audit", &proxy.UpstreamError{URL: u, Status: resp.StatusCode, Err: err})
		return
	case len(out) > proxy.DefaultMaxDocumentSize:
		h.core.Fail(w, r, "the audit", &proxy.UpstreamError{URL: u, Status: resp.StatusCode, Err: errors.New("answer too large")})
		return
	}
	status := resp.StatusCode
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		// npm would ask for credentials sigil never forwards.
		h.core.Fail(w, r, "the audit", &proxy.UpstreamError{URL: u, Status: status, Err: errors.New("the upstream refused the audit")})
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		hdr.Set("Content-Type", ct)
	} else {
		hdr.Set("Content-Type", contentTypeJSON)
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

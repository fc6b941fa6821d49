package npm

import (
	"net/http"
	"time"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
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
		h.core.Fail(w, r, proxy.RedactURL(u), err)
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
	h.core.PassPost(w, r, h.client, front.Post{
		URL:     u,
		What:    "the audit",
		MaxBody: maxAuditBody,
		Timeout: auditTimeout,
		Headers: []string{"Content-Type", "Content-Encoding", "Accept", "Npm-Command"},
	})
}

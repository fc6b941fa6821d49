package composer

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
)

// Forward mode (Config.Forward). The client keeps the upstream's URLs and
// reaches sigil as its HTTPS proxy (package proxy/forward). Requests for
// the upstream's metadata reach ServeHTTP as in mirror mode; the archive
// URLs in served metadata stay the upstream's, so the requests for them
// reach the proxy as requests for those URLs, on whatever host the
// metadata named. What lets the proxy answer them:
//
//   - Every archive URL of every p2 document served in forward mode is
//     learned with the package and version whose entry named it
//     (front.Learned): in a bounded LRU, and in Config.Learned when set.
//     Blocked versions are learned too, so that a lock file naming one
//     gets the verdict.
//   - ArchiveOrigin says whether served metadata named an archive at an
//     origin (scheme, host, port): the proxy intercepts only such hosts
//     besides the upstream's.
//   - ServeArchiveURL serves a learned URL. The learned record only says
//     where to look: the version's facts are read from the upstream's
//     metadata again (the same as for a mirror-mode archive request), the
//     URL must still be that version's archive there, and
//     Checker.Archive verifies the bytes. So a stale or tampered record
//     can make sigil serve nothing the metadata does not name.
//
// A URL that no served metadata named is not served here: sigil cannot
// tell which version it is, so it cannot verify it. The proxy refuses it.

// maxLearnedOrigins bounds the archive hosts learned (see
// front.LearnedConfig). Registries name archives on a handful of hosts
// (their own, a CDN, code hosts).
const maxLearnedOrigins = 256

// learn records the archive URLs of d's entries, blocked versions
// included, so that a lock file naming one gets the verdict.
func (h *Handler) learn(ctx context.Context, d *p2Doc) {
	h.learned.Learn(ctx, d.pkg, func(yield func(version, url string) bool) {
		for i := range d.entries {
			e := &d.entries[i]
			if e.problem != "" || !e.dist.ok {
				continue
			}
			if !yield(e.facts.Version, e.dist.url) {
				return
			}
		}
	})
}

// ArchiveOrigin reports whether metadata served in forward mode named an
// archive at origin, written "scheme://host:port" (scheme and host in
// lower case, no trailing dot, the port always written, an IPv6 address
// in brackets). It is false outside forward mode. A forward proxy uses it
// to decide which hosts besides the upstream's it intercepts.
func (h *Handler) ArchiveOrigin(ctx context.Context, origin string) bool {
	if !h.forward {
		return false
	}
	return h.learned.HasOrigin(ctx, origin)
}

// ServeArchiveURL serves the archive at archiveURL, the absolute URL a
// client asked the forward proxy for, if metadata served in forward mode
// named it, and reports whether it answered. When it reports false it has
// written nothing: no served metadata named the URL (or the Handler is not
// in forward mode), and the caller answers.
//
// An answer is the verified archive, the Checker's refusal (410), or a 404
// saying that the upstream's metadata no longer names the URL. Only GET
// and HEAD are served.
func (h *Handler) ServeArchiveURL(w http.ResponseWriter, r *http.Request, archiveURL string) bool {
	if !h.forward {
		return false
	}
	ref, ok, err := h.learned.Lookup(r.Context(), archiveURL)
	if err != nil {
		h.core.Fail(w, r, "the archive at "+proxy.RedactURL(archiveURL), fmt.Errorf("reading the learned archive URLs: %w", err))
		return true
	}
	if !ok {
		return false
	}
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return true
	}
	e, _, err := h.findArchive(r.Context(), ref.Package, ref.Version, func(d dist) bool { return d.url == ref.URL })
	if err != nil {
		h.core.Fail(w, r, "metadata of "+ref.Package, err)
		return true
	}
	if e == nil {
		writeWarning(w, http.StatusNotFound, "sigil: the upstream's metadata no longer names "+proxy.RedactURL(archiveURL)+
			" as the archive of "+ref.Package+" "+ref.Version+"; update the package to get the current one")
		return true
	}
	h.serveArchive(w, r, e)
	return true
}

// Routes reports whether the escaped path p is one of the Handler's routes
// (ServeHTTP answers every path, with a 404 for the others). In forward
// mode a proxy answers other paths on the upstream's host itself: they are
// the upstream's, not sigil's, and no metadata sigil served named them.
func (h *Handler) Routes(p string) bool {
	p, ok := front.Path(p, h.prefix)
	if !ok {
		return false
	}
	switch {
	case p == "/packages.json", p == advisoriesPath, p == searchPath, p == listPath,
		p == filterSummaryPath, p == filterAPIPath:
		return true
	case strings.HasPrefix(p, "/p2/"), strings.HasPrefix(p, "/providers/"):
		return true
	case strings.HasPrefix(p, "/dists/"):
		return !h.forward
	}
	return false
}

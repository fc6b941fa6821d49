package npm

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
)

// Forward mode (Config.Forward). npm keeps the upstream's URLs and reaches
// sigil as its HTTPS proxy (package proxy/forward). Requests on the
// upstream's origin for sigil's routes (Routes) reach ServeHTTP as in
// mirror mode; that includes tarballs at the registry's own paths
// ("{name}/-/{name}-{version}.tgz"), which are looked up by name and
// version. A tarball URL of another shape or on another host (a registry
// that serves tarballs from a CDN) reaches the proxy as a request for that
// URL, and what lets the proxy answer it is what this file keeps:
//
//   - Every dist.tarball of every packument served in forward mode is
//     learned with its package and version (blocked versions too, so that
//     a lockfile naming one gets the verdict): in a bounded LRU, and in
//     Config.Learned when set (front.Learned).
//   - ArchiveOrigin says whether a served packument named a tarball at an
//     origin; the proxy intercepts only such hosts besides the upstream's.
//   - ServeArchiveURL serves a learned URL. The record only says where to
//     look: the version's facts are read from the upstream's packument
//     again, the URL must still be that version's dist.tarball there, and
//     Checker.Archive verifies the bytes.
//
// A URL that no served packument named is not served here; the proxy
// refuses it.

// maxLearnedOrigins bounds the tarball hosts learned (see
// front.LearnedConfig); registries use one or two.
const maxLearnedOrigins = 64

// learn records the tarball URLs of p's versions, blocked ones included,
// so that a lockfile naming one gets the verdict.
func (h *Handler) learn(ctx context.Context, p *packument) {
	h.learned.Learn(ctx, p.name, func(yield func(version, url string) bool) {
		for i := range p.versions {
			v := &p.versions[i]
			if v.problem != "" {
				continue
			}
			if !yield(v.key, v.facts.ArchiveURL) {
				return
			}
		}
	})
}

// ArchiveOrigin reports whether a packument served in forward mode named a
// tarball at origin ("scheme://host:port", as proxy/forward writes it). It
// is false outside forward mode. The forward proxy intercepts such hosts.
func (h *Handler) ArchiveOrigin(ctx context.Context, origin string) bool {
	return h.forward && h.learned.HasOrigin(ctx, origin)
}

// ServeArchiveURL serves the tarball at archiveURL, the absolute URL a
// client asked the forward proxy for, if a packument served in forward
// mode named it, and reports whether it answered. When it reports false it
// has written nothing, and the caller answers.
//
// An answer is the verified tarball, a refusal (410), or a 404 saying that
// the upstream's packument no longer names the URL. Only GET and HEAD are
// served.
func (h *Handler) ServeArchiveURL(w http.ResponseWriter, r *http.Request, archiveURL string) bool {
	if !h.forward {
		return false
	}
	ref, ok, err := h.learned.Lookup(r.Context(), archiveURL)
	if err != nil {
		h.core.Fail(w, r, "the tarball at "+archiveURL, fmt.Errorf("reading the learned tarball URLs: %w", err))
		return true
	}
	if !ok {
		return false
	}
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return true
	}
	e, err := h.lookup(r, ref.Package, ref.Version)
	if err != nil {
		h.core.Fail(w, r, "the metadata of "+ref.Package, err)
		return true
	}
	if e == nil || e.problem == "" && e.facts.ArchiveURL != ref.URL {
		writeError(w, http.StatusNotFound, "sigil: the upstream's packument no longer names "+proxy.RedactURL(archiveURL)+
			" as the tarball of "+ref.Package+"@"+ref.Version+"; update the package to get the current one")
		return true
	}
	h.serveVersion(w, r, ref.Package, ref.Version, e)
	return true
}

// Routes reports whether the escaped path p is one of the Handler's routes
// (ServeHTTP answers every path, with a 404 or 405 for the others). In
// forward mode the proxy answers other paths on the upstream's host itself.
func (h *Handler) Routes(p string) bool {
	p, ok := front.Path(p, h.prefix)
	if !ok {
		return false
	}
	if rest, ok := strings.CutPrefix(p, "/-/"); ok {
		switch {
		case rest == "ping", rest == "npm/v1/keys", auditPaths[rest]:
			return true
		case strings.HasPrefix(rest, "npm/v1/attestations/"):
			_, ok := attestationsURL(h.upstreamBase, rest[len("npm/v1/attestations/"):])
			return ok
		}
		return false
	}
	name, rest, ok := splitPackagePath(p[1:])
	switch {
	case !ok:
		return false
	case rest == "":
		return true
	}
	file, ok := strings.CutPrefix(rest, "/-/")
	if !ok {
		return false
	}
	_, ok = tarballVersion(name, file)
	return ok
}

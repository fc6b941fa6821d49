package npm

import (
	"errors"
	"net/http"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
)

// serveTarball answers a tarball: the version looked up in the upstream's
// packument (whose dist.tarball is the only URL ever fetched for it),
// decided, verified by the Checker, served from the cache.
//
// The request names a package and a version, never a URL: sigil's
// tarball paths are the registry's shape ("{name}/-/{name}-{version}.tgz"),
// and so are the paths npm asks for when it replaces the registry host of
// a lockfile's "resolved" URL with sigil's (pacote lib/remote.js,
// replace-registry-host), and the paths a forward-mode client asks the
// upstream for.
func (h *Handler) serveTarball(w http.ResponseWriter, r *http.Request, name, version string) {
	e, err := h.lookup(r, name, version)
	if err != nil {
		h.core.Fail(w, r, "the metadata of "+name, err)
		return
	}
	if e == nil {
		writeError(w, http.StatusNotFound, "sigil: "+name+"@"+quoteVersion(version)+" is not in the upstream's metadata")
		return
	}
	h.serveVersion(w, r, name, version, e)
}

// serveVersion answers the tarball of the version e, found in the
// upstream's packument.
func (h *Handler) serveVersion(w http.ResponseWriter, r *http.Request, name, version string, e *indexed) {
	ctx := r.Context()
	if e.problem != "" {
		h.core.Log.Warn("npm: tarball of a malformed version refused", "package", name, "version", version, "problem", e.problem)
		h.core.Fail(w, r, "", &proxy.BlockedError{Facts: e.facts, Verdict: policy.Verdict{Action: policy.Block, Failed: true, Reasons: []string{e.problem}}})
		return
	}
	var ks *keyState
	if h.keys != nil {
		ks = h.keys.current(ctx)
	}
	// The registry signature is evidence of the one verdict; what it alone
	// blocks is not downloaded (the Checker decides the metadata first).
	facts := e.facts
	facts.Registry = h.registry(ks, name, &e.versionFacts, e.published)
	a, err := h.core.Checker.Archive(ctx, facts)
	var blocked *proxy.BlockedError
	switch {
	case errors.As(err, &blocked):
		// The Checker logged it (once per version whose decision
		// changed); the reasons go to the client with the 410.
		h.core.Fail(w, r, "", err)
		return
	case errors.Is(err, proxy.ErrNotFound):
		writeError(w, http.StatusNotFound, "sigil: the upstream has no tarball for "+name+"@"+version)
		return
	case err != nil:
		h.core.Fail(w, r, "the tarball of "+name+"@"+version, err)
		return
	}
	if a.Closer != nil {
		defer a.Closer.Close()
	}
	vd := a.Verdict
	hdr := w.Header()
	if vd.Action != policy.Allow || len(vd.Reasons) > 0 {
		reason := vd.Reason()
		if reason == "" {
			reason = name + "@" + version
		}
		// The Checker logged the verdict when it changed; a line per
		// request would repeat it for every install.
		hdr.Set("X-Sigil-Verdict", headerValue(string(h.core.Mode)+"; warned=1; "+reason, 2048))
		// The unsigned = warn notice alone is about the package, and
		// the packument's npm-notice said it: the tarball adds nothing,
		// and npm may store it. Anything else is about this tarball
		// (a tampered one in warn mode, a registry signature problem):
		// npm prints npm-notice as "npm notice …", but only from a
		// response its cache did not store (see servePackument).
		if !vd.NoticeOnly {
			hdr.Set("npm-notice", headerValue("sigil served "+name+"@"+version+" with a warning: "+reason, 1024))
			hdr.Set("Cache-Control", "no-store")
		}
	}
	front.ServeArchive(w, r, a, "application/octet-stream")
}

// lookup returns the facts of name@version from the packument sigil parsed
// last (within indexTTL) or from the upstream's, or nil if the packument
// has no such version.
func (h *Handler) lookup(r *http.Request, name, version string) (*indexed, error) {
	x, ok := h.index.Get(name)
	if !ok {
		var err error
		if _, x, _, err = h.packument(r.Context(), name); err != nil {
			return nil, err
		}
	}
	return x.versions[version], nil
}

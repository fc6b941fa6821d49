package composer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
)

// Archive URLs are sigil's own:
//
//	{prefix}/dists/{vendor}/{name}/{version}/{segment}.{zip|tar}
//
// with the version path-escaped (branch versions hold "/") and the segment
// the dist reference when it is a plain token (a commit hash, normally),
// else "u" and a SHA-256 prefix of the upstream URL. The segment ties the
// URL to one archive of the version: a composer.lock that names dev-main at
// an older commit gets a 404 rather than another commit's archive.
//
// The path only names what to look up. The archive's upstream URL comes
// from the upstream metadata of that package and version, never from the
// request, so no client can make sigil fetch a URL of its choosing.

// validSegment is whether s can be a URL segment as is: an ASCII letter
// or digit, then up to 127 of those or "._-" (so never "." or "..").
func validSegment(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func distPath(pkg, version string, d dist) string {
	return "/dists/" + pkg + "/" + url.PathEscape(version) + "/" + distSegment(d) + "." + distExt[d.typ]
}

func distSegment(d dist) string {
	if validSegment(d.reference) {
		return d.reference
	}
	sum := sha256.Sum256([]byte(d.url))
	return "u" + hex.EncodeToString(sum[:12])
}

// distReq is a parsed archive path.
type distReq struct {
	pkg, version, segment, ext string
}

// parseDistPath parses "vendor/name/version/segment.ext" from the escaped
// request path. Each part is checked on its own, so no "..", empty part
// or escaped "/" outside the version can mean anything.
func parseDistPath(p string) (distReq, bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 4 {
		return distReq{}, false
	}
	d := distReq{pkg: parts[0] + "/" + parts[1]}
	if !validName(d.pkg) {
		return distReq{}, false
	}
	v, err := url.PathUnescape(parts[2])
	if err != nil || !validVersion(v) {
		return distReq{}, false
	}
	d.version = v
	i := strings.LastIndexByte(parts[3], '.')
	if i < 0 {
		return distReq{}, false
	}
	d.segment, d.ext = parts[3][:i], parts[3][i+1:]
	if !validSegment(d.segment) || (d.ext != "zip" && d.ext != "tar") {
		return distReq{}, false
	}
	return d, true
}

// validVersion bounds a version string from a request path. Composer's
// versions are short and printable; anything else cannot be in metadata.
func validVersion(v string) bool {
	if v == "" || len(v) > 255 || v == "." || v == ".." || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// devVersion is whether Packagist lists v in the ~dev file: Composer's
// "dev" stability, a "dev-" prefix or a "-dev" suffix.
func devVersion(v string) bool {
	return strings.HasPrefix(v, "dev-") || strings.HasSuffix(v, "-dev")
}

var archiveTypes = map[string]string{"zip": "application/zip", "tar": "application/x-tar"}

// serveDist answers an archive: found in the metadata, verified (or
// refused) by the Checker, served from the cache.
func (h *Handler) serveDist(w http.ResponseWriter, r *http.Request, req distReq) {
	e, seen, err := h.findArchive(r.Context(), req.pkg, req.version, func(d dist) bool {
		return distSegment(d) == req.segment && distExt[d.typ] == req.ext
	})
	if err != nil {
		h.core.Fail(w, r, "metadata of "+req.pkg, err)
		return
	}
	if e == nil {
		msg := "sigil: " + req.pkg + " " + req.version + " has no archive in the upstream's metadata"
		if seen {
			msg = "sigil: the upstream's metadata no longer names this archive of " + req.pkg + " " + req.version + "; update the package to get the current one"
		}
		writeWarning(w, http.StatusNotFound, msg)
		return
	}
	h.serveArchive(w, r, e)
}

// serveArchive answers the archive of e: verified (or refused) by the
// Checker, served from the cache.
func (h *Handler) serveArchive(w http.ResponseWriter, r *http.Request, e *archiveRef) {
	pkg, version := e.facts.Package, e.facts.Version
	a, err := h.core.Checker.Archive(r.Context(), e.facts)
	switch {
	case err == nil:
	case proxy.StatusOf(err) == http.StatusNotFound:
		// Unlike an unknown document, a missing archive is worth a
		// line in Composer's output.
		writeWarning(w, http.StatusNotFound, "sigil: the upstream has no archive for "+pkg+" "+version)
		return
	default:
		// A refusal is 410 with its reasons (the Checker logged it).
		h.core.Fail(w, r, "the archive of "+pkg+" "+version, err)
		return
	}
	if a.Closer != nil {
		defer a.Closer.Close()
	}
	hdr := w.Header()
	if a.Verdict.Action == policy.Warn {
		reason := a.Verdict.Reason()
		if reason == "" {
			reason = pkg + " " + version
		}
		// The unsigned = warn notice alone is about the package, and
		// its metadata said it: the archive adds nothing to tell.
		if !a.Verdict.NoticeOnly && h.warnFirst(w, r, reason) {
			return
		}
		hdr.Set("X-Sigil-Verdict", headerValue(string(h.core.Mode)+"; warned=1; "+reason, 2048))
	}
	front.ServeArchive(w, r, a, archiveTypes[e.dist.typ])
}

// warnedTTL is how long a client that was told about a warned archive is
// then served it; Composer retries within a second or two.
const (
	warnedTTL  = 5 * time.Minute
	warnedSize = 4096
)

// warnFirst tells Composer about an archive served with a warning (a
// problem with this archive, not the unsigned = warn notice, which the
// metadata tells once per package), where its user looks: Composer prints
// nothing of a successful download, but
// prints the "warning" of a JSON answer of 400 or more
// (HttpDownloader::outputWarnings) and retries a GET answered 425 Too
// Early (CurlDownloader, with 423, 5xx, up to three times). So the first
// GET of such an archive by a client is answered 425 with the reason, the
// retry gets the archive. It reports whether it answered. A client that
// does not retry sees the warning as a failure and gets the archive when
// it asks again.
func (h *Handler) warnFirst(w http.ResponseWriter, r *http.Request, reason string) bool {
	if r.Method != http.MethodGet {
		return false
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	key := client + " " + r.URL.Path
	if _, told := h.warned.Get(key); told {
		return false
	}
	h.warned.Put(key, struct{}{})
	writeWarning(w, http.StatusTooEarly, "sigil serves this archive with a warning: "+reason)
	return true
}

// findArchive returns the archive of the upstream's metadata of pkg whose
// version is version and whose dist match accepts, or nil, and whether the
// version was there at all. It looks first in the file Packagist lists the
// version in, then in the other.
func (h *Handler) findArchive(ctx context.Context, pkg, version string, match func(dist) bool) (ref *archiveRef, seen bool, err error) {
	root, err := h.rootInfo(ctx)
	if err != nil {
		return nil, false, err
	}
	files := []string{pkg, pkg + devSuffix}
	if devVersion(version) {
		files[0], files[1] = files[1], files[0]
	}
	for _, file := range files {
		u := strings.ReplaceAll(root.metadataURL, "%package%", file)
		x, ok := h.index.Get(u)
		if !ok {
			doc, err := h.upstream.Document(ctx, u)
			if errors.Is(err, proxy.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, false, err
			}
			_, x, err = h.parse(doc, pkg)
			if err != nil {
				return nil, false, front.Malformed(u, err)
			}
			h.index.Put(u, x)
		}
		for i := range x.refs {
			ref := &x.refs[i]
			if ref.facts.Version != version {
				continue
			}
			seen = true
			if ref.dist.ok && match(ref.dist) {
				return ref, true, nil
			}
		}
		if seen {
			return nil, true, nil
		}
	}
	return nil, false, nil
}

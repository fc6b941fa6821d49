package npm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/proxy"
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
//     Config.Learned when set.
//   - ArchiveOrigin says whether a served packument named a tarball at an
//     origin; the proxy intercepts only such hosts besides the upstream's.
//   - ServeArchiveURL serves a learned URL. The record only says where to
//     look: the version's facts are read from the upstream's packument
//     again, the URL must still be that version's dist.tarball there, and
//     Checker.Archive verifies the bytes.
//
// A URL that no served packument named is not served here; the proxy
// refuses it.

const (
	// learnedSize bounds the tarball URLs kept in memory: every version
	// of every package of a large install, at a few hundred bytes each.
	learnedSize = 1 << 16
	// maxLearnedOrigins bounds the tarball hosts learned; registries use
	// one or two.
	maxLearnedOrigins = 64
	// maxLearnedKey keeps a record's key within the cache's 4096 bytes;
	// longer URLs are learned in memory only.
	maxLearnedKey = 3072

	learnedRecordVersion = "v1"
)

// learnedRef is what sigil learned about one tarball URL.
type learnedRef struct {
	name, version string
	url           string // exactly as the packument wrote it
}

// learned maps tarball URLs to the versions that named them. Safe for
// concurrent use.
type learned struct {
	urls   *lru.Cache[string, learnedRef] // by canonical URL
	store  proxy.MetaStore                // nil: memory only
	prefix string                         // of store keys
	log    *slog.Logger

	mu      sync.Mutex
	origins map[string]bool
	loaded  bool // origins were read from store (or there is none)
}

func newLearned(store proxy.MetaStore, prefix string, log *slog.Logger) *learned {
	urls, _ := lru.New[string, learnedRef](learnedSize) // errors only for a size <= 0
	return &learned{urls: urls, store: store, prefix: prefix, log: log, origins: map[string]bool{}, loaded: store == nil}
}

// learn records the tarball URLs of p's versions. Only what is new is
// written to the store, so a packument served again costs lookups only.
func (l *learned) learn(ctx context.Context, p *packument) {
	var fresh []learnedRef
	var keys, origins []string
	for i := range p.versions {
		v := &p.versions[i]
		if v.problem != "" {
			continue
		}
		key, origin, ok := canonicalURL(v.facts.ArchiveURL)
		if !ok {
			continue
		}
		ref := learnedRef{name: p.name, version: v.key, url: v.facts.ArchiveURL}
		if old, ok := l.urls.Get(key); ok && old == ref {
			continue
		}
		l.urls.Add(key, ref)
		fresh = append(fresh, ref)
		keys = append(keys, key)
		if !slices.Contains(origins, origin) {
			origins = append(origins, origin)
		}
	}
	l.addOrigins(ctx, origins)
	if l.store == nil {
		return
	}
	for i, key := range keys {
		if len(key) > maxLearnedKey {
			continue
		}
		m := cache.Meta{Body: fresh[i].encode(), FetchedAt: time.Now()}
		if err := l.store.PutMeta(ctx, l.prefix+"url "+key, m); err != nil {
			// Memory still has them; only a restart forgets.
			l.log.Warn("npm: storing learned tarball URLs failed", "package", p.name, "err", err)
			return
		}
	}
}

func (r learnedRef) encode() []byte {
	return []byte(learnedRecordVersion + "\n" + r.name + "\n" + r.version + "\n" + r.url)
}

// decodeLearned reads a stored record for the canonical URL key; one that
// sigil would not write, or that is about another URL, is refused.
func decodeLearned(b []byte, key string) (learnedRef, bool) {
	parts := strings.Split(string(b), "\n")
	if len(parts) != 4 || parts[0] != learnedRecordVersion {
		return learnedRef{}, false
	}
	r := learnedRef{name: parts[1], version: parts[2], url: parts[3]}
	if !validName(r.name) || !validVersion(r.version) {
		return learnedRef{}, false
	}
	if k, _, ok := canonicalURL(r.url); !ok || k != key {
		return learnedRef{}, false
	}
	return r, true
}

// lookup returns what was learned about the canonical URL key.
func (l *learned) lookup(ctx context.Context, key string) (learnedRef, bool, error) {
	if r, ok := l.urls.Get(key); ok {
		return r, true, nil
	}
	if l.store == nil || len(key) > maxLearnedKey {
		return learnedRef{}, false, nil
	}
	m, err := l.store.GetMeta(ctx, l.prefix+"url "+key)
	if errors.Is(err, cache.ErrNotFound) {
		return learnedRef{}, false, nil
	}
	if err != nil {
		return learnedRef{}, false, err
	}
	r, ok := decodeLearned(m.Body, key)
	if !ok {
		l.log.Warn("npm: ignoring a malformed learned tarball record", "url", key)
		return learnedRef{}, false, nil
	}
	l.urls.Add(key, r)
	return r, true, nil
}

func (l *learned) hasOrigin(ctx context.Context, origin string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loadOrigins(ctx)
	return l.origins[origin]
}

// addOrigins adds learned origins and stores the set when it grew.
func (l *learned) addOrigins(ctx context.Context, origins []string) {
	if len(origins) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loadOrigins(ctx)
	grew := false
	for _, o := range origins {
		if l.origins[o] {
			continue
		}
		if len(l.origins) >= maxLearnedOrigins {
			l.log.Warn("npm: too many tarball hosts learned; the proxy will refuse this one", "origin", o, "limit", maxLearnedOrigins)
			continue
		}
		l.origins[o] = true
		grew = true
	}
	if !grew || l.store == nil {
		return
	}
	// Written whole, under the lock, so two writers cannot drop each
	// other's; the set changes rarely.
	list := slices.Sorted(func(yield func(string) bool) {
		for o := range l.origins {
			if !yield(o) {
				return
			}
		}
	})
	body := learnedRecordVersion + "\n" + strings.Join(list, "\n")
	if err := l.store.PutMeta(ctx, l.prefix+"origins", cache.Meta{Body: []byte(body), FetchedAt: time.Now()}); err != nil {
		l.log.Warn("npm: storing learned tarball hosts failed", "err", err)
	}
}

// loadOrigins reads the stored origins once. l.mu is held.
func (l *learned) loadOrigins(ctx context.Context) {
	if l.loaded {
		return
	}
	m, err := l.store.GetMeta(ctx, l.prefix+"origins")
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		if ctx.Err() != nil {
			return // the caller went away: try again next time
		}
		l.log.Warn("npm: reading learned tarball hosts failed", "err", err)
	}
	l.loaded = true
	if err != nil {
		return
	}
	lines := strings.Split(string(m.Body), "\n")
	if lines[0] != learnedRecordVersion {
		l.log.Warn("npm: ignoring a malformed record of learned tarball hosts")
		return
	}
	for _, o := range lines[1:] {
		u, err := url.Parse(o)
		if err != nil || !isHTTP(u) {
			continue
		}
		if c, ok := canonicalOrigin(u); ok && c == o && len(l.origins) < maxLearnedOrigins {
			l.origins[o] = true
		}
	}
}

// canonicalURL is the form in which tarball URLs are matched: scheme and
// host in lower case, no trailing dot on the host, the port always
// written, the path as escaped, the query as it is, no fragment. It also
// returns the URL's origin.
func canonicalURL(raw string) (key, origin string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || !isHTTP(u) || u.Opaque != "" {
		return "", "", false
	}
	if origin, ok = canonicalOrigin(u); !ok {
		return "", "", false
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	key = origin + p
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	return key, origin, true
}

// canonicalOrigin is "scheme://host:port" as proxy/forward names origins:
// lower case, no trailing dot, the port always written, an IPv6 address
// in brackets.
func canonicalOrigin(u *url.URL) (string, bool) {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(host, port), true
}

// ArchiveOrigin reports whether a packument served in forward mode named a
// tarball at origin ("scheme://host:port", as proxy/forward writes it). It
// is false outside forward mode. The forward proxy intercepts such hosts.
func (h *Handler) ArchiveOrigin(ctx context.Context, origin string) bool {
	return h.forward && h.learned.hasOrigin(ctx, origin)
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
	key, _, ok := canonicalURL(archiveURL)
	if !ok {
		return false
	}
	ref, ok, err := h.learned.lookup(r.Context(), key)
	if err != nil {
		h.fail(w, r, "the tarball at "+archiveURL, fmt.Errorf("reading the learned tarball URLs: %w", err))
		return true
	}
	if !ok {
		return false
	}
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return true
	}
	e, err := h.lookup(r, ref.name, ref.version)
	if err != nil {
		h.fail(w, r, "the metadata of "+ref.name, err)
		return true
	}
	if e == nil || e.problem == "" && e.facts.ArchiveURL != ref.url {
		writeError(w, http.StatusNotFound, "sigil: the upstream's packument no longer names "+archiveURL+
			" as the tarball of "+ref.name+"@"+ref.version+"; update the package to get the current one")
		return true
	}
	h.serveVersion(w, r, ref.name, ref.version, e)
	return true
}

// Routes reports whether the escaped path p is one of the Handler's routes
// (ServeHTTP answers every path, with a 404 or 405 for the others). In
// forward mode the proxy answers other paths on the upstream's host itself.
func (h *Handler) Routes(p string) bool {
	p, ok := strings.CutPrefix(p, h.prefix)
	if !ok || !strings.HasPrefix(p, "/") {
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

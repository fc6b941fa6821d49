package composer

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

// Forward mode (Config.Forward). The client keeps the upstream's URLs and
// reaches sigil as its HTTPS proxy (package proxy/forward). Requests for
// the upstream's metadata reach ServeHTTP as in mirror mode; the archive
// URLs in served metadata stay the upstream's, so the requests for them
// reach the proxy as requests for those URLs, on whatever host the
// metadata named. What lets the proxy answer them:
//
//   - Every archive URL of every p2 document served in forward mode is
//     learned with the package and version whose entry named it: in a
//     bounded LRU, and in Config.Learned when set. Blocked versions are
//     learned too, so that a lock file naming one gets the verdict.
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

const (
	// learnedSize bounds the archive URLs kept in memory. A project's
	// dependencies name a few thousand to a few tens of thousands of
	// archives (every version of each package is learned); at a few
	// hundred bytes each the bound keeps this under about 32 MB. An
	// evicted URL is read back from Config.Learned, or learned again from
	// the next metadata served.
	learnedSize = 1 << 16

	// maxLearnedOrigins bounds the archive hosts learned. Registries name
	// archives on a handful of hosts (their own, a CDN, code hosts); the
	// bound stops metadata that names endless hosts from growing the set,
	// which is kept in memory whole and persisted as one record.
	maxLearnedOrigins = 256

	// maxLearnedKey keeps a record's key within the cache's limit on
	// keys (4096 bytes) with room for the prefix; longer URLs are learned
	// in memory only.
	maxLearnedKey = 3072

	learnedRecordVersion = "v1"
)

// learnedRef is what sigil learned about one archive URL.
type learnedRef struct {
	pkg, version string
	url          string // exactly as the metadata wrote it
}

// learned is the forward-mode map from archive URL to the version whose
// metadata named it. Safe for concurrent use.
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
	urls, err := lru.New[string, learnedRef](learnedSize)
	if err != nil {
		panic(err) // only for a size <= 0, which is a constant here
	}
	return &learned{urls: urls, store: store, prefix: prefix, log: log, origins: map[string]bool{}, loaded: store == nil}
}

// learn records the archive URLs of d's entries. Only URLs not already
// known as they are now are written to the store, so a document served
// again costs memory lookups only.
func (l *learned) learn(ctx context.Context, d *p2Doc) {
	var fresh []learnedRef
	var keys, origins []string
	for i := range d.entries {
		e := &d.entries[i]
		if e.problem != "" || !e.dist.ok {
			continue
		}
		key, origin, ok := canonicalURL(e.dist.url)
		if !ok {
			continue
		}
		ref := learnedRef{pkg: d.pkg, version: e.facts.Version, url: e.dist.url}
		if old, ok := l.urls.Get(key); ok && old == ref {
			continue
		}
		// Two versions may name one URL (the same commit under two
		// branch names); the last learned is the one looked up. Both
		// name the same bytes.
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
			l.log.Warn("composer: storing learned archive URLs failed", "package", d.pkg, "err", err)
			return
		}
	}
}

func (r learnedRef) encode() []byte {
	return []byte(learnedRecordVersion + "\n" + r.pkg + "\n" + r.version + "\n" + r.url)
}

// decodeLearned reads a stored record for the canonical URL key. A record
// that is not one sigil would write, or is about another URL, is refused.
func decodeLearned(b []byte, key string) (learnedRef, bool) {
	parts := strings.Split(string(b), "\n")
	if len(parts) != 4 || parts[0] != learnedRecordVersion {
		return learnedRef{}, false
	}
	r := learnedRef{pkg: parts[1], version: parts[2], url: parts[3]}
	if !validName(r.pkg) || !validVersion(r.version) {
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
		l.log.Warn("composer: ignoring a malformed learned archive record", "url", key)
		return learnedRef{}, false, nil
	}
	l.urls.Add(key, r)
	return r, true, nil
}

// hasOrigin reports whether an archive at origin was learned.
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
			l.log.Warn("composer: too many archive hosts learned; the proxy will refuse this one", "origin", o, "limit", maxLearnedOrigins)
			continue
		}
		l.origins[o] = true
		grew = true
	}
	if !grew || l.store == nil {
		return
	}
	// The set changes rarely (a new archive host), so it is written
	// whole, under the lock, and two writers cannot drop each other's.
	list := make([]string, 0, len(l.origins))
	for o := range l.origins {
		list = append(list, o)
	}
	slices.Sort(list)
	body := learnedRecordVersion + "\n" + strings.Join(list, "\n")
	if err := l.store.PutMeta(ctx, l.prefix+"origins", cache.Meta{Body: []byte(body), FetchedAt: time.Now()}); err != nil {
		l.log.Warn("composer: storing learned archive hosts failed", "err", err)
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
		// The hosts are learned again from the next metadata served.
		l.log.Warn("composer: reading learned archive hosts failed", "err", err)
	}
	l.loaded = true
	if err != nil {
		return
	}
	lines := strings.Split(string(m.Body), "\n")
	if lines[0] != learnedRecordVersion {
		l.log.Warn("composer: ignoring a malformed record of learned archive hosts")
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

// canonicalURL is the form in which archive URLs are matched: scheme and
// host in lower case, the host without a trailing dot, the port always
// written, the path as escaped in the URL ("/" when empty), the query as
// it is, no fragment. It also returns the URL's origin (canonicalOrigin).
func canonicalURL(raw string) (key, origin string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || !isHTTP(u) || u.Opaque != "" {
		return "", "", false
	}
	origin, ok = canonicalOrigin(u)
	if !ok {
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

// canonicalOrigin is "scheme://host:port": scheme and host in lower case,
// no trailing dot, the port always written, an IPv6 address in brackets.
// The proxy names origins in the same form (proxy/forward).
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

// ArchiveOrigin reports whether metadata served in forward mode named an
// archive at origin, written "scheme://host:port" (scheme and host in
// lower case, no trailing dot, the port always written, an IPv6 address
// in brackets). It is false outside forward mode. A forward proxy uses it
// to decide which hosts besides the upstream's it intercepts.
func (h *Handler) ArchiveOrigin(ctx context.Context, origin string) bool {
	if !h.forward {
		return false
	}
	return h.learned.hasOrigin(ctx, origin)
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
	key, _, ok := canonicalURL(archiveURL)
	if !ok {
		return false
	}
	ref, ok, err := h.learned.lookup(r.Context(), key)
	if err != nil {
		h.fail(w, r, "the archive at "+archiveURL, fmt.Errorf("reading the learned archive URLs: %w", err))
		return true
	}
	if !ok {
		return false
	}
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return true
	}
	e, _, err := h.findArchive(r.Context(), ref.pkg, ref.version, func(d dist) bool { return d.url == ref.url })
	if err != nil {
		h.fail(w, r, "metadata of "+ref.pkg, err)
		return true
	}
	if e == nil {
		writeWarning(w, http.StatusNotFound, "sigil: the upstream's metadata no longer names "+archiveURL+
			" as the archive of "+ref.pkg+" "+ref.version+"; update the package to get the current one")
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
	p, ok := strings.CutPrefix(p, h.prefix)
	if !ok || !strings.HasPrefix(p, "/") {
		return false
	}
	switch {
	case p == "/packages.json", p == advisoriesPath:
		return true
	case strings.HasPrefix(p, "/p2/"), strings.HasPrefix(p, "/providers/"):
		return true
	case strings.HasPrefix(p, "/dists/"):
		return !h.forward
	}
	return false
}

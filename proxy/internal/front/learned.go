package front

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"net"
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

// Forward mode: the client keeps the upstream's URLs and reaches sigil as
// its HTTPS proxy (package proxy/forward), so a request for an archive
// reaches sigil as a request for whatever URL the metadata named. Learned
// is what lets a front answer it: every archive URL of every document
// served in forward mode, with the package and version whose entry named
// it. A learned record only says where to look: the front reads the
// version's facts from the upstream's metadata again, and serves the
// archive only if that metadata still names the URL for that version, so
// a stale or tampered record can make sigil serve nothing the metadata
// does not name.
//
// The hosts those URLs are on (origins) are what the proxy intercepts
// besides the upstreams. Each is kept only for LearnedConfig.TTL after the
// last document that named it was served, across restarts too: a host
// that metadata named once is no permanent grant. The exception is a host
// the proxy would otherwise tunnel (LearnedConfig.Tunnelled): forgetting
// it would pass a lock file's archives on it to the client unverified, so
// once learned it is kept for good, and past MaxOrigins.

const (
	// learnedSize bounds the archive URLs kept in memory. A project's
	// dependencies name a few thousand to a few tens of thousands of
	// archives (every version of each package is learned); at a few
	// hundred bytes each the bound keeps this under about 32 MB. An
	// evicted URL is read back from the store, or learned again from the
	// next document served.
	learnedSize = 1 << 16

	// maxLearnedKey keeps a record's key within the cache's limit on
	// keys (4096 bytes) with room for the prefix; longer URLs are learned
	// in memory only.
	maxLearnedKey = 3072

	learnedRecordVersion = "v1"
	// originsRecordVersion is the record of learned origins, each with
	// the time it was last named ("v1" records had no time and are
	// ignored: their hosts are learned again from the next document).
	originsRecordVersion = "v2"

	// DefaultLearnedTTL is how long an archive host stays intercepted
	// after the last served document that named it: long enough for an
	// install from a lock file the day after the update that wrote it.
	DefaultLearnedTTL = 24 * time.Hour

	// LearnRenewal is how long a front in forward mode serves a kept
	// document (Core.KeepFor) before it renders it again and learns
	// from it: well within DefaultLearnedTTL, so that a host a document
	// served all day names stays learned.
	LearnRenewal = time.Hour
)

// LearnedConfig configures a Learned.
type LearnedConfig struct {
	// Store keeps what was learned across restarts; nil: memory only.
	Store proxy.MetaStore
	// Prefix starts every key of Store, naming the front and upstream.
	Prefix string
	Log    *slog.Logger
	// Name starts every log line ("composer"), and Noun names what the
	// URLs are in them ("archive", "tarball").
	Name, Noun string
	// MaxOrigins bounds the archive hosts learned: the set is kept in
	// memory whole and stored as one record, so metadata naming endless
	// hosts must not grow it. A host past the bound is not intercepted,
	// and the proxy refuses it.
	MaxOrigins int
	// Valid reports whether a stored record's package and version are
	// ones the front could have learned; a record failing it is ignored.
	Valid func(pkg, version string) bool
	// TTL is how long a learned origin is kept after the last document
	// that named it. Default: DefaultLearnedTTL.
	TTL time.Duration
	// Tunnelled reports whether the forward proxy tunnels origin when
	// it does not intercept it (an allowed host). Such an origin, once
	// learned, is kept for good, in memory and in Store, and is not
	// counted against MaxOrigins (the operator's allow list bounds it):
	// were it forgotten or refused, the archives metadata named on it
	// would reach the client through a tunnel, unverified. Default: none.
	Tunnelled func(origin string) bool
}

// LearnedRef is what sigil learned about one archive URL.
type LearnedRef struct {
	Package, Version string
	URL              string // exactly as the metadata wrote it
}

// Learned maps archive URLs, in the form CanonicalURL gives them, to the
// versions whose metadata named them: in a bounded LRU, and in the store
// when there is one. Safe for concurrent use.
type Learned struct {
	cfg  LearnedConfig
	urls *lru.Cache[string, LearnedRef] // by canonical URL

	now func() time.Time

	mu      sync.Mutex
	origins map[string]learnedOrigin
	loaded  bool      // origins were read from the store (or there is none)
	written time.Time // when the origins were last stored
}

// learnedOrigin is what is known of one learned origin.
type learnedOrigin struct {
	at   time.Time // when a document last named it
	keep bool      // Tunnelled: kept for good, not bounded
}

// NewLearned returns an empty Learned; it does no I/O.
func NewLearned(cfg LearnedConfig) *Learned {
	urls, err := lru.New[string, LearnedRef](learnedSize)
	if err != nil {
		panic(err) // only for a size <= 0, which is a constant here
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultLearnedTTL
	}
	if cfg.Tunnelled == nil {
		cfg.Tunnelled = func(string) bool { return false }
	}
	return &Learned{cfg: cfg, urls: urls, now: time.Now, origins: map[string]learnedOrigin{}, loaded: cfg.Store == nil}
}

// Learn records the archive URLs of one document of pkg, given as
// (version, URL) pairs; URLs that are not absolute http(s) are skipped.
// Only URLs not already known as they are now are written to the store,
// so a document served again costs memory lookups only. A store that
// fails is logged: memory still has the URLs, and only a restart forgets.
func (l *Learned) Learn(ctx context.Context, pkg string, archives iter.Seq2[string, string]) {
	var fresh []LearnedRef
	var keys, origins []string
	for version, u := range archives {
		key, origin, ok := CanonicalURL(u)
		if !ok {
			continue
		}
		if !slices.Contains(origins, origin) {
			origins = append(origins, origin)
		}
		ref := LearnedRef{Package: pkg, Version: version, URL: u}
		if old, ok := l.urls.Get(key); ok && old == ref {
			continue
		}
		// Two versions may name one URL (the same commit under two
		// branch names); the last learned is the one looked up. Both
		// name the same bytes.
		l.urls.Add(key, ref)
		fresh = append(fresh, ref)
		keys = append(keys, key)
	}
	l.addOrigins(ctx, origins)
	if l.cfg.Store == nil {
		return
	}
	for i, key := range keys {
		if len(key) > maxLearnedKey {
			continue
		}
		m := cache.Meta{Body: fresh[i].encode(), FetchedAt: time.Now()}
		if err := l.cfg.Store.PutMeta(ctx, l.cfg.Prefix+"url "+key, m); err != nil {
			l.cfg.Log.Warn(l.cfg.Name+": storing learned "+l.cfg.Noun+" URLs failed", "package", pkg, "err", err)
			return
		}
	}
}

func (r LearnedRef) encode() []byte {
	return []byte(learnedRecordVersion + "\n" + r.Package + "\n" + r.Version + "\n" + r.URL)
}

// decode reads a stored record for the canonical URL key. A record that
// is not one sigil would write, or is about another URL, is refused.
func (l *Learned) decode(b []byte, key string) (LearnedRef, bool) {
	parts := strings.Split(string(b), "\n")
	if len(parts) != 4 || parts[0] != learnedRecordVersion {
		return LearnedRef{}, false
	}
	r := LearnedRef{Package: parts[1], Version: parts[2], URL: parts[3]}
	if !l.cfg.Valid(r.Package, r.Version) {
		return LearnedRef{}, false
	}
	if k, _, ok := CanonicalURL(r.URL); !ok || k != key {
		return LearnedRef{}, false
	}
	return r, true
}

// Lookup returns what was learned about archiveURL, in any form that
// CanonicalURL makes the same; false if nothing was. Only a failing store
// is an error.
func (l *Learned) Lookup(ctx context.Context, archiveURL string) (LearnedRef, bool, error) {
	key, _, ok := CanonicalURL(archiveURL)
	if !ok {
		return LearnedRef{}, false, nil
	}
	if r, ok := l.urls.Get(key); ok {
		return r, true, nil
	}
	if l.cfg.Store == nil || len(key) > maxLearnedKey {
		return LearnedRef{}, false, nil
	}
	m, err := l.cfg.Store.GetMeta(ctx, l.cfg.Prefix+"url "+key)
	if errors.Is(err, cache.ErrNotFound) {
		return LearnedRef{}, false, nil
	}
	if err != nil {
		return LearnedRef{}, false, err
	}
	r, ok := l.decode(m.Body, key)
	if !ok {
		l.cfg.Log.Warn(l.cfg.Name+": ignoring a malformed learned "+l.cfg.Noun+" record", "url", proxy.RedactURL(key))
		return LearnedRef{}, false, nil
	}
	l.urls.Add(key, r)
	return r, true, nil
}

// HasOrigin reports whether an archive at origin, in the form
// CanonicalOrigin gives, was named by a document served within the TTL,
// or ever if the origin is Tunnelled.
func (l *Learned) HasOrigin(ctx context.Context, origin string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loadOrigins(ctx)
	o, ok := l.origins[origin]
	return ok && o.current(l.now(), l.cfg.TTL)
}

// current reports whether o is still learned at now.
func (o learnedOrigin) current(now time.Time, ttl time.Duration) bool {
	return o.keep || now.Sub(o.at) < ttl
}

// addOrigins marks origins as named now, dropping the expired ones, and
// stores the set when it grew or its stored times grow old.
func (l *Learned) addOrigins(ctx context.Context, origins []string) {
	if len(origins) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loadOrigins(ctx)
	now := l.now()
	n := 0 // origins counted against MaxOrigins
	for o, lo := range l.origins {
		if !lo.current(now, l.cfg.TTL) {
			delete(l.origins, o)
		} else if !lo.keep {
			n++
		}
	}
	grew := false
	for _, o := range origins {
		lo, ok := l.origins[o]
		if !ok {
			lo.keep = l.cfg.Tunnelled(o)
			if !lo.keep && n >= l.cfg.MaxOrigins {
				l.cfg.Log.Warn(l.cfg.Name+": too many "+l.cfg.Noun+" hosts learned; the proxy will refuse this one", "origin", o, "limit", l.cfg.MaxOrigins)
				continue
			}
			grew = true
			if !lo.keep {
				n++
			}
		}
		lo.at = now
		l.origins[o] = lo
	}
	// Times in the store may lag by a quarter of the TTL: a restart then
	// forgets a host a little early, never late.
	if l.cfg.Store == nil || (!grew && now.Sub(l.written) < l.cfg.TTL/4) {
		return
	}
	l.written = now
	// The set changes rarely (a new archive host), so it is written
	// whole, under the lock, and two writers cannot drop each other's.
	list := make([]string, 0, len(l.origins))
	for o, lo := range l.origins {
		list = append(list, o+" "+strconv.FormatInt(lo.at.Unix(), 10))
	}
	slices.Sort(list)
	body := originsRecordVersion + "\n" + strings.Join(list, "\n")
	if err := l.cfg.Store.PutMeta(ctx, l.cfg.Prefix+"origins", cache.Meta{Body: []byte(body), FetchedAt: time.Now()}); err != nil {
		l.cfg.Log.Warn(l.cfg.Name+": storing learned "+l.cfg.Noun+" hosts failed", "err", err)
	}
}

// loadOrigins reads the stored origins once. l.mu is held.
func (l *Learned) loadOrigins(ctx context.Context) {
	if l.loaded {
		return
	}
	m, err := l.cfg.Store.GetMeta(ctx, l.cfg.Prefix+"origins")
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		if ctx.Err() != nil {
			return // the caller went away: try again next time
		}
		// The hosts are learned again from the next document served.
		l.cfg.Log.Warn(l.cfg.Name+": reading learned "+l.cfg.Noun+" hosts failed", "err", err)
	}
	l.loaded = true
	if err != nil {
		return
	}
	lines := strings.Split(string(m.Body), "\n")
	if lines[0] != originsRecordVersion {
		if lines[0] != learnedRecordVersion { // a v1 record: hosts without times
			l.cfg.Log.Warn(l.cfg.Name + ": ignoring a malformed record of learned " + l.cfg.Noun + " hosts")
		}
		return
	}
	now := l.now()
	n := 0
	for _, line := range lines[1:] {
		o, unix, _ := strings.Cut(line, " ")
		sec, err := strconv.ParseInt(unix, 10, 64)
		if err != nil {
			continue
		}
		at := time.Unix(sec, 0)
		u, err := url.Parse(o)
		if err != nil || !IsHTTP(u) {
			continue
		}
		if c, ok := CanonicalOrigin(u); !ok || c != o {
			continue
		}
		// A time to come would stretch the TTL; a Tunnelled origin is
		// kept whatever its time.
		lo := learnedOrigin{at: at, keep: l.cfg.Tunnelled(o)}
		if lo.keep {
			l.origins[o] = lo
		} else if now.Sub(at) < l.cfg.TTL && !at.After(now) && n < l.cfg.MaxOrigins {
			l.origins[o] = lo
			n++
		}
	}
	l.written = now
}

// CanonicalURL is the form in which archive URLs are matched: scheme and
// host in lower case, the host without a trailing dot, the port always
// written, the path as escaped in the URL ("/" when empty), the query as
// it is, no fragment. It also returns the URL's origin (CanonicalOrigin).
// False for anything but an absolute http(s) URL without user information.
func CanonicalURL(raw string) (key, origin string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || !IsHTTP(u) || u.Opaque != "" {
		return "", "", false
	}
	if origin, ok = CanonicalOrigin(u); !ok {
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

// CanonicalOrigin is "scheme://host:port": scheme and host in lower case,
// no trailing dot, the port always written, an IPv6 address in brackets.
// The proxy names origins in the same form (proxy/forward).
func CanonicalOrigin(u *url.URL) (string, bool) {
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

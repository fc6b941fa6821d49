package composer

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/release"
)

// ServedStore remembers, per served document, a digest of what sigil served
// and since when, so that Last-Modified is sigil's own and moves when the
// served bytes change (a new upstream version, a changed verdict). Its
// contract is front.ServedStore's; *cache.Store implements it.
type ServedStore = front.ServedStore

// Config configures a Handler. Upstream, UpstreamURL and Checker are
// required; every other field has a working zero value.
type Config struct {
	// UpstreamURL is the base URL of the Composer repository sigil
	// mirrors, as a project would write it in composer.json: its root
	// document is UpstreamURL + "/packages.json". Other URLs (metadata,
	// archives, advisories) are learned from the documents it serves.
	UpstreamURL *url.URL
	// Upstream fetches the upstream's documents (through the cache).
	Upstream proxy.Upstream
	// Checker decides versions and serves verified archives.
	Checker proxy.Checker
	// Prefix is the path the Handler is mounted at; every request it
	// gets is under it. Default "/composer"; "/" mounts at the root.
	Prefix string
	// PublicURL is sigil's base URL as clients reach it, such as
	// "http://127.0.0.1:8780", without the prefix. It goes into the
	// absolute URLs sigil writes (archive URLs, the advisories API).
	// Default: scheme and Host of each request, which is right unless a
	// reverse proxy sits in front.
	PublicURL string
	// Served keeps the Last-Modified state of served documents. Default:
	// an in-memory store, which forgets across restarts (clients then
	// refetch once).
	Served ServedStore
	// Mode is the default mode, only used to word the X-Sigil-Verdict
	// header; verdicts come from the Checker. Default: enforce.
	Mode policy.Mode
	// Logger receives failures and dropped metadata entries. Verdicts
	// are the Checker's to log. Default: discard.
	Logger *slog.Logger
	// Metrics counts served documents reused and rendered. Default (nil):
	// nothing is counted.
	Metrics *proxy.Metrics
	// RenderedDir is where served documents larger than a megabyte are
	// kept, in a private directory made there when first needed, rather
	// than in memory (the largest packuments are tens of megabytes).
	// Default "": in memory. Nothing removes the directory: the caller
	// sweeps "sigil-rendered-*" when it starts.
	RenderedDir string
	// Forward is forward-proxy mode: metadata is filtered as in mirror
	// mode, but archive URLs stay the upstream's, since the client's
	// requests for them reach sigil through the proxy anyway. The
	// Handler then remembers the archive URLs of the metadata it served
	// and serves those URLs (ServeArchiveURL); its own /dists/ route is
	// off, because the rest of the upstream's paths are the upstream's.
	Forward bool
	// Client makes the requests passed through with a body (the filter
	// list API). Default: proxy.UpstreamClient(nil).
	Client *http.Client
	// Learned keeps, in Forward mode, the archive URLs learned from
	// served metadata across restarts (under keys that start with
	// "composer-forward "), so that a client installing from its lock
	// file after a restart is still served. Each record only says which
	// package and version named a URL; the facts an archive is checked
	// against are read again from the upstream's metadata. Default: kept
	// in memory only.
	Learned proxy.MetaStore
	// Tunnelled reports, in Forward mode, whether the proxy tunnels an
	// origin ("scheme://host:port") that it does not intercept: an
	// allowed host (forward.Tunnelled). An archive host of served
	// metadata that it names is remembered for good, not for a day, so
	// that its archives are never tunnelled unverified. Default: none.
	Tunnelled func(origin string) bool
}

// Handler serves the Composer repository protocol v2 under Config.Prefix.
type Handler struct {
	core        front.Core
	upstreamURL *url.URL
	upstream    proxy.Upstream
	client      *http.Client
	prefix      string
	public      *url.URL // nil: from the request
	forward     bool

	rootMu sync.Mutex
	root   *rootInfo // last parsed upstream packages.json

	parsed *front.Parsed[parsedP2] // upstream p2 documents, by their bytes
	index  front.Recent[*docIndex] // archive facts of recently parsed p2 documents, by URL

	learned *front.Learned // forward mode only

	// warned are the clients told about a warned archive, by client
	// address and path (see warnFirst).
	warned front.Recent[struct{}]
}

var _ http.Handler = (*Handler)(nil)

// New checks cfg and returns its Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.UpstreamURL == nil || !front.IsHTTP(cfg.UpstreamURL) {
		return nil, errors.New("composer: UpstreamURL must be an absolute http or https URL")
	}
	if cfg.Upstream == nil || cfg.Checker == nil {
		return nil, errors.New("composer: Upstream and Checker are required")
	}
	h := &Handler{
		core: front.Core{
			Name:        "composer",
			Checker:     cfg.Checker,
			Log:         cfg.Logger,
			Metrics:     cfg.Metrics,
			RenderedDir: cfg.RenderedDir,
			Mode:        cfg.Mode,
			Served:      cfg.Served,
			NotFound:    notFound,
			Message:     writeWarning,
		},
		upstreamURL: cfg.UpstreamURL,
		upstream:    cfg.Upstream,
		client:      cfg.Client,
		forward:     cfg.Forward,
		parsed:      front.NewParsed[parsedP2](front.ParsedEntries, front.ParsedBytes),
		index:       front.Recent[*docIndex]{TTL: indexTTL, Size: indexSize},
		warned:      front.Recent[struct{}]{TTL: warnedTTL, Size: warnedSize},
	}
	if cfg.Forward {
		// A served document renews the archive hosts it names
		// (Learned's TTL): it is decided and rendered again now and
		// then, so that learning sees it.
		h.core.KeepFor = front.LearnRenewal
	}
	h.core.Init()
	if h.client == nil {
		h.client = proxy.UpstreamClient(nil)
	}
	var err error
	if h.prefix, err = front.Prefix(cfg.Prefix, "/composer"); err != nil {
		return nil, fmt.Errorf("composer: %w", err)
	}
	if h.public, err = front.PublicURL(cfg.PublicURL); err != nil {
		return nil, fmt.Errorf("composer: %w", err)
	}
	if h.forward {
		h.learned = front.NewLearned(front.LearnedConfig{
			Store:      cfg.Learned,
			Prefix:     "composer-forward " + h.upstreamURL.String() + " ",
			Log:        h.core.Log,
			Name:       "composer",
			Noun:       "archive",
			MaxOrigins: maxLearnedOrigins,
			Tunnelled:  cfg.Tunnelled,
			Valid:      func(pkg, version string) bool { return validName(pkg) && validVersion(version) },
		})
	}
	return h, nil
}

// ServeHTTP routes a request under the prefix. Anything it does not know
// is a 404 that touches neither the upstream nor the checker.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := front.Path(r.URL.EscapedPath(), h.prefix)
	if !ok {
		notFound(w)
		return
	}
	switch {
	case p == "/packages.json":
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.servePackagesJSON(w, r)
		}
	case strings.HasPrefix(p, "/p2/"):
		name, ok := metadataName(p[len("/p2/"):])
		if !ok {
			notFound(w)
			return
		}
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveP2(w, r, name)
		}
	case strings.HasPrefix(p, "/dists/") && !h.forward:
		d, ok := parseDistPath(p[len("/dists/"):])
		if !ok {
			notFound(w)
			return
		}
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveDist(w, r, d)
		}
	case strings.HasPrefix(p, "/providers/"):
		name, ok := metadataName(p[len("/providers/"):])
		if !ok || strings.HasSuffix(name, devSuffix) {
			notFound(w)
			return
		}
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveProviders(w, r, name)
		}
	case p == advisoriesPath:
		if allow(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
			h.serveAdvisories(w, r)
		}
	case p == filterSummaryPath:
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveFilterSummary(w, r)
		}
	case p == filterAPIPath:
		if allow(w, r, http.MethodPost) {
			h.serveFilterAPI(w, r)
		}
	case p == searchPath:
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveSearch(w, r)
		}
	case p == listPath:
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveList(w, r)
		}
	default:
		notFound(w)
	}
}

const (
	devSuffix         = "~dev"
	advisoriesPath    = "/api/security-advisories/"
	filterSummaryPath = "/filter/summary.json"
	filterAPIPath     = "/api/filter/"
	searchPath        = "/api/search.json"
	listPath          = "/api/list.json"
)

// metadataName takes "vendor/name.json" or "vendor/name~dev.json" from a
// request path and returns "vendor/name" or "vendor/name~dev" if the name
// follows Composer's rule. Composer lowercases names before it asks, so an
// upper-case name is as unknown as a malformed one.
func metadataName(p string) (string, bool) {
	file, ok := strings.CutSuffix(p, ".json")
	if !ok {
		return "", false
	}
	name := strings.TrimSuffix(file, devSuffix)
	if !validName(name) {
		return "", false
	}
	return file, true
}

// validName applies Composer's package-name rule (release.ValidatePackage,
// the rule statements use too), with a bound on length: a name that fails
// it cannot exist upstream, so it is refused before anything is asked.
func validName(name string) bool {
	return len(name) <= 200 && release.ValidatePackage(release.Composer, name) == nil
}

// allow answers 405 unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// base returns the scheme and host that absolute URLs in served documents
// start with.
func (h *Handler) base(r *http.Request) (string, bool) {
	return front.Base(h.public, r)
}

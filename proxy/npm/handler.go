package npm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

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

// Config configures a Handler. UpstreamURL, Upstream and Checker are
// required; every other field has a working zero value.
type Config struct {
	// UpstreamURL is the registry sigil mirrors, as npm's "registry"
	// setting would name it. A packument is UpstreamURL + "/" + the
	// escaped name ("@scope%2fname"), as npm asks for it.
	UpstreamURL *url.URL
	// Upstream fetches the upstream's documents (through the cache). It
	// fetches the full form of packuments, which is what an HTTP GET
	// without an Accept header gets.
	Upstream proxy.Upstream
	// Checker decides versions and serves verified tarballs.
	Checker proxy.Checker
	// Prefix is the path the Handler is mounted at; every request it gets
	// is under it. Default "/npm"; "/" mounts at the root (forward mode,
	// where requests keep the upstream's paths).
	Prefix string
	// PublicURL is sigil's base URL as clients reach it, such as
	// "http://127.0.0.1:8780", without the prefix; tarball URLs start with
	// it. Default: scheme and Host of each request.
	PublicURL string
	// Served keeps the Last-Modified state of served documents. Default:
	// in memory, forgotten across restarts.
	Served ServedStore
	// Mode is the default mode: it words the X-Sigil-Verdict header.
	// Every verdict, registry signatures included, comes from the
	// Checker. Default: enforce.
	Mode policy.Mode
	// Logger receives a line per packument with blocked or warned
	// versions, per refused tarball and per failure. Default: discard.
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
	// Forward is forward-proxy mode: packuments are filtered as in
	// mirror mode, but tarball URLs stay the upstream's, since the
	// client's requests for them reach sigil through the proxy anyway.
	// The Handler then also remembers the tarball URLs of the packuments
	// it served and serves those URLs (ServeArchiveURL, for tarballs on
	// other hosts or paths), and tells its routes from the upstream's
	// other paths (Routes).
	Forward bool
	// Learned keeps, in Forward mode, the tarball URLs learned from served
	// packuments across restarts (under keys that start with
	// "npm-forward "), so that npm ci after a restart is still served
	// tarballs the registry does not keep at its own paths. Each record
	// only says which package and version named a URL; the facts are read
	// again from the upstream's packument. Default: memory only.
	Learned proxy.MetaStore
	// Tunnelled reports, in Forward mode, whether the proxy tunnels an
	// origin ("scheme://host:port") that it does not intercept: an
	// allowed host (forward.Tunnelled). A tarball host of a served
	// packument that it names is remembered for good, not for a day, so
	// that its tarballs are never tunnelled unverified. Default: none.
	Tunnelled func(origin string) bool
	// RegistrySignatures is what sigil does with the registry's own
	// signatures (dist.signatures): off, warn or require. Default: warn.
	RegistrySignatures SignatureMode
	// Keys pins the registry's signing keys on first use. Default: in
	// memory, so keys are pinned again after a restart; *cache.Store
	// keeps them.
	Keys KeyPins
	// Client makes the requests that are passed through with a body (the
	// audit endpoints). Default: proxy.UpstreamClient(nil).
	Client *http.Client
}

// Handler serves the npm registry protocol under Config.Prefix.
type Handler struct {
	core         front.Core
	upstreamBase string // UpstreamURL without a trailing "/"
	upstream     proxy.Upstream
	prefix       string
	public       *url.URL // nil: from the request
	forward      bool
	sigMode      SignatureMode
	keys         *keyring // nil when sigMode is off
	client       *http.Client
	learned      *front.Learned // tarball URLs of served packuments (forward mode)

	parsed *front.Parsed[parsedPackument] // upstream packuments, by their bytes
	index  front.Recent[*docIndex]        // facts of recently parsed packuments, by name
	// noticed holds the warning-only npm-notices sent lately (noticeDue).
	noticed front.Recent[struct{}]
}

var _ http.Handler = (*Handler)(nil)

// The forward proxy's optional interfaces (proxy/forward Router and
// Archives), spelled out here rather than imported.
var _ interface {
	Routes(escapedPath string) bool
	ArchiveOrigin(ctx context.Context, origin string) bool
	ServeArchiveURL(w http.ResponseWriter, r *http.Request, archiveURL string) bool
} = (*Handler)(nil)

// New checks cfg and returns its Handler. It does no I/O.
func New(cfg Config) (*Handler, error) {
	if cfg.UpstreamURL == nil || !front.IsHTTP(cfg.UpstreamURL) || cfg.UpstreamURL.RawQuery != "" || cfg.UpstreamURL.Fragment != "" {
		return nil, errors.New("npm: UpstreamURL must be an absolute http or https URL without a query")
	}
	if cfg.Upstream == nil || cfg.Checker == nil {
		return nil, errors.New("npm: Upstream and Checker are required")
	}
	h := &Handler{
		core: front.Core{
			Name:        "npm",
			Checker:     cfg.Checker,
			Log:         cfg.Logger,
			Metrics:     cfg.Metrics,
			RenderedDir: cfg.RenderedDir,
			Mode:        cfg.Mode,
			Served:      cfg.Served,
			NotFound:    notFound,
			Message:     writeError,
		},
		upstreamBase: strings.TrimSuffix(cfg.UpstreamURL.String(), "/"),
		upstream:     cfg.Upstream,
		forward:      cfg.Forward,
		sigMode:      cfg.RegistrySignatures,
		client:       cfg.Client,
		parsed:       front.NewParsed[parsedPackument](front.ParsedEntries, front.ParsedBytes),
		index:        front.Recent[*docIndex]{TTL: indexTTL, Size: indexSize, Weight: indexWeight, MaxWeight: indexBytes},
		noticed:      front.Recent[struct{}]{TTL: noticeWindow, Size: noticedSize},
	}
	var err error
	if h.prefix, err = front.Prefix(cfg.Prefix, "/npm"); err != nil {
		return nil, fmt.Errorf("npm: %w", err)
	}
	if h.public, err = front.PublicURL(cfg.PublicURL); err != nil {
		return nil, fmt.Errorf("npm: %w", err)
	}
	switch h.sigMode {
	case "":
		h.sigMode = SignaturesWarn
	case SignaturesOff, SignaturesWarn, SignaturesRequire:
	default:
		return nil, fmt.Errorf("npm: RegistrySignatures %q: want off, warn or require", h.sigMode)
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
	h.learned = front.NewLearned(front.LearnedConfig{
		Store:      cfg.Learned,
		Prefix:     "npm-forward " + h.upstreamBase + " ",
		Log:        h.core.Log,
		Name:       "npm",
		Noun:       "tarball",
		MaxOrigins: maxLearnedOrigins,
		Tunnelled:  cfg.Tunnelled,
		Valid:      func(name, version string) bool { return validName(name) && validVersion(version) },
	})
	if h.sigMode != SignaturesOff {
		pins := cfg.Keys
		if pins == nil {
			pins = newMemPins()
		}
		h.keys = newKeyring(h.upstream, h.upstreamBase, pins, h.core.Log)
	}
	return h, nil
}

// ServeHTTP routes a request under the prefix. Anything it does not know
// is a 404 (or a 405 for a write: sigil is read-only) that touches neither
// the upstream nor the checker.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := front.Path(r.URL.EscapedPath(), h.prefix)
	if !ok {
		notFound(w)
		return
	}
	if rest, ok := strings.CutPrefix(p, "/-/"); ok {
		h.serveSpecial(w, r, rest)
		return
	}
	name, rest, ok := splitPackagePath(p[1:])
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		// Publish, unpublish, deprecate, dist-tag changes: a mirror
		// takes none of them.
		readOnly(w, r)
	case !ok:
		notFound(w)
	case rest == "":
		h.servePackument(w, r, name)
	default:
		file, ok := strings.CutPrefix(rest, "/-/")
		if !ok {
			notFound(w)
			return
		}
		version, ok := tarballVersion(name, file)
		if !ok {
			notFound(w)
			return
		}
		h.serveTarball(w, r, name, version)
	}
}

// serveSpecial answers the registry's own endpoints, under "/-/".
func (h *Handler) serveSpecial(w http.ResponseWriter, r *http.Request, rest string) {
	switch {
	case rest == "ping":
		// npm ping and npm doctor: sigil answers for itself.
		if allow(w, r, http.MethodGet, http.MethodHead) {
			writeJSON(w, http.StatusOK, []byte("{}\n"))
		}
	case rest == "npm/v1/keys":
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.passDocument(w, r, h.upstreamBase+"/-/npm/v1/keys")
		}
	case strings.HasPrefix(rest, "npm/v1/attestations/"):
		u, ok := attestationsURL(h.upstreamBase, rest[len("npm/v1/attestations/"):])
		if !ok {
			notFound(w)
			return
		}
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.passDocument(w, r, u)
		}
	case auditPaths[rest]:
		if allow(w, r, http.MethodPost) {
			h.passAudit(w, r, h.upstreamBase+"/-/"+rest)
		}
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		readOnly(w, r) // login, tokens, dist-tag and access changes
	default:
		notFound(w)
	}
}

// auditPaths are the security endpoints npm posts to: the bulk advisories
// of npm 7 and later (@npmcli/arborist lib/audit-report.js), and the quick
// and full audits older clients use.
var auditPaths = map[string]bool{
	"npm/v1/security/advisories/bulk": true,
	"npm/v1/security/audits/quick":    true,
	"npm/v1/security/audits":          true,
}

// splitPackagePath splits an escaped request path (without its leading
// "/") into a package name and what follows it. npm asks for a scoped
// packument as "@scope%2fname" (npm-package-arg's escapedName) and
// registries name its tarballs "@scope/name/-/…"; both are accepted, as is
// "%40" for "@". The name must be valid (release.ValidatePackage): one
// that is not cannot exist upstream and costs nothing.
func splitPackagePath(p string) (name, rest string, ok bool) {
	if after, found := strings.CutPrefix(p, "%40"); found {
		p = "@" + after
	}
	if strings.HasPrefix(p, "@") {
		sep, n := strings.IndexByte(p, '/'), 1
		if i := indexFold(p, "%2f"); i >= 0 && (sep < 0 || i < sep) {
			sep, n = i, 3
		}
		if sep < 0 {
			return "", "", false
		}
		scope, after := p[:sep], p[sep+n:]
		part, tail := after, ""
		if i := strings.IndexByte(after, '/'); i >= 0 {
			part, tail = after[:i], after[i:]
		}
		name, rest = scope+"/"+part, tail
	} else {
		name, rest = p, ""
		if i := strings.IndexByte(p, '/'); i >= 0 {
			name, rest = p[:i], p[i:]
		}
	}
	return name, rest, validName(name)
}

func indexFold(s, sub string) int {
	return strings.Index(strings.ToLower(s), sub)
}

func validName(name string) bool {
	return release.ValidatePackage(release.NPM, name) == nil
}

// escapedName is the name as npm puts it in a packument URL.
func escapedName(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}

// unscoped is the name part of a scoped name, which tarball file names
// start with.
func unscoped(name string) string {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// tarballPath is sigil's path of a version's tarball, the registry's
// shape: "{name}/-/{unscoped name}-{version}.tgz".
func tarballPath(name, version string) string {
	return "/" + name + "/-/" + unscoped(name) + "-" + url.PathEscape(version) + ".tgz"
}

// tarballVersion returns the version a tarball file name names.
func tarballVersion(name, file string) (string, bool) {
	v, ok := strings.CutPrefix(file, unscoped(name)+"-")
	if !ok {
		return "", false
	}
	if v, ok = strings.CutSuffix(v, ".tgz"); !ok {
		return "", false
	}
	v, err := url.PathUnescape(v)
	if err != nil || !validVersion(v) {
		return "", false
	}
	return v, true
}

// attestationsURL maps "{escaped name}@{version}" to the upstream's
// attestations URL, or fails for anything else.
func attestationsURL(base, spec string) (string, bool) {
	s, err := url.PathUnescape(spec)
	if err != nil {
		return "", false
	}
	i := strings.LastIndexByte(s, '@')
	if i <= 0 {
		return "", false
	}
	name, version := s[:i], s[i+1:]
	if !validName(name) || !validVersion(version) {
		return "", false
	}
	return base + "/-/npm/v1/attestations/" + escapedName(name) + "@" + url.PathEscape(version), true
}

// allow answers 405 unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "sigil: "+r.Method+" is not supported here")
	return false
}

// base returns the scheme and host that tarball URLs start with.
func (h *Handler) base(r *http.Request) (string, bool) {
	return front.Base(h.public, r)
}

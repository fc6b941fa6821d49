// Package observe is the release log's view of the registries it
// observes: it reads a package's metadata from the configured registry,
// and downloads and measures a version's archive, with the proxy's own
// parsing, limits and outbound client. It implements server.Observer.
//
// It fetches only from the registry URL it was configured with and from
// the archive URLs that registry's metadata names, through the client it
// is given (sigil log serve gives it the proxy's upstream client). It is
// never handed a URL by a client of the log.
package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/composer"
	"github.com/sigilproxy/sigil/proxy/npm"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog/server"
)

// Config configures an Observer.
type Config struct {
	// Registries are the observed registries' URLs by ecosystem
	// (release.Composer: the repository URL; release.NPM: the registry
	// URL). Required: at least one.
	Registries map[string]string
	// Client fetches metadata and archives. Default:
	// proxy.UpstreamClient(nil).
	Client *http.Client
	// Limits bound archive downloads and hashing, as in the proxy.
	Limits proxy.Limits
	// TempDir is where archives are staged while they are hashed.
	// Default: os.TempDir().
	TempDir string
}

// Observer implements server.Observer.
type Observer struct {
	regs   map[string]*url.URL
	client *http.Client
	docs   *proxy.HTTPUpstream
	limits proxy.Limits
	tmp    string
}

var _ server.Observer = (*Observer)(nil)

// New checks cfg and returns an Observer. It does no I/O.
func New(cfg Config) (*Observer, error) {
	if len(cfg.Registries) == 0 {
		return nil, errors.New("observe: no registry to observe")
	}
	o := &Observer{regs: map[string]*url.URL{}, client: cfg.Client, limits: cfg.Limits, tmp: cfg.TempDir}
	for eco, raw := range cfg.Registries {
		if eco != release.Composer && eco != release.NPM {
			return nil, fmt.Errorf("observe: unknown ecosystem %q (want %s or %s)", eco, release.Composer, release.NPM)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("observe: %s registry %q is not an http(s) URL", eco, raw)
		}
		o.regs[eco] = u
	}
	if o.client == nil {
		o.client = proxy.UpstreamClient(nil)
	}
	if o.tmp == "" {
		o.tmp = os.TempDir()
	}
	// MaxAge -1: an observation is of the registry's current document,
	// never of a copy kept for freshness (a version published a second
	// ago must be found).
	docs, err := proxy.NewHTTPUpstream(proxy.UpstreamConfig{Client: o.client, Cache: noCopies{}, MaxAge: -1})
	if err != nil {
		return nil, err
	}
	o.docs = docs
	return o, nil
}

// Observes reports whether a registry of eco is configured.
func (o *Observer) Observes(eco string) bool { return o.regs[eco] != nil }

// Prepare reads pkg's metadata from the registry and returns a Measure for
// each of versions it lists with an archive sigil could serve.
func (o *Observer) Prepare(ctx context.Context, eco, pkg string, versions []string) (map[string]server.Measure, error) {
	facts, err := o.versions(ctx, eco, pkg)
	if errors.Is(err, proxy.ErrNotFound) {
		return nil, nil // no such package: nothing to observe
	}
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(versions))
	for _, v := range versions {
		want[v] = true
	}
	out := map[string]server.Measure{}
	for _, f := range facts {
		if !want[f.Version] || f.ManifestErr != nil || f.ArchiveURL == "" {
			continue
		}
		out[f.Version] = func(ctx context.Context) (*release.Observation, error) { return o.measure(ctx, f) }
	}
	return out, nil
}

// versions fetches and parses the package's metadata document.
func (o *Observer) versions(ctx context.Context, eco, pkg string) ([]proxy.VersionFacts, error) {
	reg := o.regs[eco]
	if reg == nil {
		return nil, fmt.Errorf("no %s registry is observed", eco)
	}
	if eco == release.NPM {
		doc, err := o.docs.Document(ctx, npm.PackumentURL(reg.String(), pkg))
		if err != nil {
			return nil, err
		}
		return npm.VersionFacts(doc.Body, pkg)
	}
	root, err := o.docs.Document(ctx, composer.PackagesJSONURL(reg))
	if err != nil {
		return nil, fmt.Errorf("the repository's packages.json: %w", err)
	}
	mu, err := composer.MetadataURL(reg, root.Body, pkg)
	if err != nil {
		return nil, fmt.Errorf("the repository's packages.json: %w", err)
	}
	doc, err := o.docs.Document(ctx, mu)
	if err != nil {
		return nil, err
	}
	return composer.VersionFacts(doc.Body, pkg)
}

// measure downloads and hashes one version's archive.
func (o *Observer) measure(ctx context.Context, f proxy.VersionFacts) (*release.Observation, error) {
	m, err := proxy.MeasureArchive(ctx, o.client, o.tmp, o.limits, f.Ecosystem, f.ArchiveURL)
	if err != nil {
		return nil, err
	}
	return &release.Observation{
		Ecosystem: f.Ecosystem,
		Package:   f.Package,
		Version:   f.Version,
		Tree:      m.Tree,
		Manifest:  f.Manifest,
		Archive:   m.SHA512,
		Source:    f.Source,
	}, nil
}

// noCopies is a metadata store that keeps nothing: the log observes what
// the registry serves now, never an old copy.
type noCopies struct{}

func (noCopies) GetMeta(context.Context, string) (cache.Meta, error) {
	return cache.Meta{}, cache.ErrNotFound
}
func (noCopies) PutMeta(context.Context, string, cache.Meta) error { return nil }
func (noCopies) DeleteMeta(context.Context, string) error          { return nil }

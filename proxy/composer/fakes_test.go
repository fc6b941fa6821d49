package composer

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

const upstreamBase = fronttest.UpstreamBase

// fakeChecker is the shared fake with Composer's verdicts: an action, and
// whether the statement names the version's source.
type fakeChecker struct{ *fronttest.Checker }

func (c fakeChecker) set(version string, a policy.Action, keepSource bool, reasons ...string) {
	c.Set(version, proxy.VersionVerdict{Verdict: policy.Verdict{Action: a, Reasons: reasons}, KeepSource: keepSource})
}

// countingStore wraps the in-memory ServedStore and counts calls.
type countingStore struct {
	*front.MemServed
	mu    sync.Mutex
	calls int
}

func (s *countingStore) ServedState(ctx context.Context, key string, digest []byte) (time.Time, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	return s.MemServed.ServedState(ctx, key, digest)
}

// rig is one handler under test with its fakes, served on 127.0.0.1.
type rig struct {
	up               *fronttest.Upstream
	checker          fakeChecker
	store            *countingStore
	h                *Handler
	fronttest.Client // of the server h is served on
	public           string
	forward          bool
	mode             policy.Mode
	noServer         bool
}

type rigOption func(*Config)

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{up: fronttest.NewUpstream(), checker: fakeChecker{fronttest.NewChecker()}, store: &countingStore{MemServed: front.NewMemServed()}}
	r.up.Set(upstreamBase+"/packages.json", packagistLikeRoot)
	u, _ := url.Parse(upstreamBase)
	r.h, r.Client = fronttest.Serve(t, func(serverURL string) (*Handler, error) {
		cfg := Config{
			UpstreamURL: u,
			Upstream:    r.up,
			Checker:     r.checker,
			Served:      r.store,
			PublicURL:   serverURL,
			Logger:      fronttest.Logger(t),
		}
		for _, o := range opts {
			o(&cfg)
		}
		return New(cfg)
	})
	return r
}

// packagistLikeRoot has the shape of a large public repository's root,
// with every key sigil must keep, rewrite or drop.
var packagistLikeRoot = `{
	"packages": [],
	"notify": "https://stats.upstream.test/downloads/%package%",
	"notify-batch": "https://stats.upstream.test/downloads/",
	"providers-url": "/p/%package%$%hash%.json",
	"metadata-url": "/p2/%package%.json",
	"metadata-changes-url": "https://www.upstream.test/metadata/changes.json",
	"search": "https://www.upstream.test/search.json?q=%query%&type=%type%",
	"list": "/packages/list.json",
	"security-advisories": {"metadata": true, "api-url": "https://www.upstream.test/api/security-advisories/"},
	"filter": {"metadata": true, "lists": {"malware": {"enabled": true}}, "summary-url": "/filter/summary.json", "api-url": "https://www.upstream.test/api/filter", "other": 1},
	"providers-api": "https://www.upstream.test/providers/%package%.json",
	"mirrors": [{"dist-url": "https://mirror.test/%package%/%version%/%reference%.%type%", "preferred": true}],
	"providers-lazy-url": "/p/%package%.json",
	"provider-includes": {"p/provider-2013$%hash%.json": {"sha256": "00"}},
	"available-package-patterns": ["acme/*"],
	"warning": "Support for Composer 1 is deprecated",
	"warning-versions": "<1.99",
	"warnings": [{"message": "ok", "versions": ">=2"}, {"message": "no versions"}, "junk"]
}`

func proxyNotFound() error { return fmt.Errorf("upstream said 404: %w", proxy.ErrNotFound) }

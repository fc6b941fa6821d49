package front

import (
	"context"
	"log/slog"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

func TestCanonicalURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://Example.TEST/a/b.zip":        "https://example.test:443/a/b.zip",
		"https://example.test:443/a/b.zip":    "https://example.test:443/a/b.zip",
		"http://example.test/a%2Fb.zip?x=1#f": "http://example.test:80/a%2Fb.zip?x=1",
		"https://[::1]:8443":                  "https://[::1]:8443/",
		"https://127.0.0.1:9/x":               "https://127.0.0.1:9/x",
		"ftp://example.test/x":                "",
		"https://user@example.test/x":         "",
		"https://example.test:0/x":            "",
		"https://example.test:99999/x":        "",
		"/relative":                           "",
	} {
		got, _, ok := CanonicalURL(raw)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("CanonicalURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func learnedFor(t *testing.T, store proxy.MetaStore, maxOrigins int) *Learned {
	return NewLearned(LearnedConfig{
		Store: store, Prefix: "test-forward ", Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Name: "test", Noun: "archive", MaxOrigins: maxOrigins,
		Valid: func(pkg, version string) bool { return pkg != "" && version != "" },
	})
}

func pairs(m map[string]string) func(func(string, string) bool) { return maps.All(m) }

func TestLearnedOriginsBounded(t *testing.T) {
	ctx := context.Background()
	l := learnedFor(t, nil, 2)
	l.Learn(ctx, "p", pairs(map[string]string{"1": "https://a.test/1", "2": "https://b.test/2", "3": "https://c.test/3", "4": "ftp://d.test/4"}))
	n := 0
	for _, o := range []string{"https://a.test:443", "https://b.test:443", "https://c.test:443"} {
		if l.HasOrigin(ctx, o) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d origins learned, want the bound, 2", n)
	}
	// URLs are learned on hosts past the bound too; the proxy just does
	// not intercept them.
	for v, u := range map[string]string{"1": "https://A.test:443/1", "3": "https://c.test/3"} {
		if r, ok, err := l.Lookup(ctx, u); err != nil || !ok || r.Version != v || r.Package != "p" {
			t.Errorf("%s: %+v %v %v", u, r, ok, err)
		}
	}
	if _, ok, _ := l.Lookup(ctx, "ftp://d.test/4"); ok {
		t.Error("a non-http URL was learned")
	}
}

func TestLearnedStore(t *testing.T) {
	store := fronttest.Store(t)
	meta := proxy.StoreCache(store)
	ctx := context.Background()
	learnedFor(t, meta, 8).Learn(ctx, "p", pairs(map[string]string{"1.0": "https://a.test/x.zip"}))

	again := learnedFor(t, meta, 8) // a restart
	if !again.HasOrigin(ctx, "https://a.test:443") {
		t.Error("origin not read back")
	}
	if r, ok, err := again.Lookup(ctx, "https://a.test/x.zip"); err != nil || !ok || r != (LearnedRef{"p", "1.0", "https://a.test/x.zip"}) {
		t.Errorf("read back %+v %v %v", r, ok, err)
	}
	// Records that are not sigil's, are about another URL, or name what
	// Valid refuses are ignored.
	for i, body := range []string{"garbage", "v1\np\n1.0\nhttps://a.test/other.zip", "v1\n\n1.0\nhttps://a.test/y.zip", "v2\np\n1.0\nhttps://a.test/y.zip"} {
		key, _, _ := CanonicalURL("https://a.test/y.zip")
		meta.PutMeta(ctx, "test-forward url "+key, cache.Meta{Body: []byte(body)})
		if r, ok, err := learnedFor(t, meta, 8).Lookup(ctx, "https://a.test/y.zip"); ok || err != nil {
			t.Errorf("record %d: %+v %v", i, r, err)
		}
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-DefaultLearnedTTL).Unix(), 10)
	meta.PutMeta(ctx, "test-forward origins", cache.Meta{Body: []byte("v2\nhttps://b.test:443 " + now + "\nHTTPS://C.test " + now +
		"\nftp://d.test:21 " + now + "\nhttps://e.test:443 " + old + "\nhttps://f.test:443")})
	l := learnedFor(t, meta, 8)
	for o, want := range map[string]bool{"https://b.test:443": true, "https://c.test:443": false, "HTTPS://C.test": false, "ftp://d.test:21": false,
		"https://e.test:443": false, "https://f.test:443": false} {
		if got := l.HasOrigin(ctx, o); got != want {
			t.Errorf("stored origin %s: %v, want %v", o, got, want)
		}
	}
}

// A learned host is intercepted only while a document that named it is
// recent, across restarts too: metadata that named it once is no
// permanent grant.
func TestLearnedOriginsExpire(t *testing.T) {
	store := fronttest.Store(t)
	meta := proxy.StoreCache(store)
	ctx := context.Background()
	clock := time.Now()
	l := learnedFor(t, meta, 8)
	l.now = func() time.Time { return clock }
	l.Learn(ctx, "p", pairs(map[string]string{"1.0": "https://a.test/x.zip"}))
	l.Learn(ctx, "q", pairs(map[string]string{"1.0": "https://b.test/y.zip"}))

	clock = clock.Add(DefaultLearnedTTL / 2)
	// q's document is served again: b.test is named anew, a.test is not.
	l.Learn(ctx, "q", pairs(map[string]string{"1.0": "https://b.test/y.zip"}))
	clock = clock.Add(DefaultLearnedTTL/2 + time.Minute)
	if l.HasOrigin(ctx, "https://a.test:443") {
		t.Error("a host named only by old metadata is still intercepted")
	}
	if !l.HasOrigin(ctx, "https://b.test:443") {
		t.Error("a host named by recent metadata expired")
	}

	again := learnedFor(t, meta, 8) // a restart
	again.now = func() time.Time { return clock }
	if again.HasOrigin(ctx, "https://a.test:443") || !again.HasOrigin(ctx, "https://b.test:443") {
		t.Error("after a restart, the expiry is not what it was")
	}
	// A v1 record (hosts without times) grants nothing.
	meta.PutMeta(ctx, "test-forward origins", cache.Meta{Body: []byte("v1\nhttps://c.test:443")})
	if learnedFor(t, meta, 8).HasOrigin(ctx, "https://c.test:443") {
		t.Error("a record without times was taken as a grant")
	}
}

// A host the proxy would otherwise tunnel (an allowed host) is kept for
// good once metadata named it, past the bound too, across restarts: were
// it forgotten, a lock file's archives on it would be tunnelled to the
// client unverified.
func TestLearnedTunnelledOriginsKept(t *testing.T) {
	store := fronttest.Store(t)
	meta := proxy.StoreCache(store)
	ctx := context.Background()
	clock := time.Now()
	tunnelled := func(o string) bool { return o == "https://t.test:443" }
	newLearned := func(tun func(string) bool) *Learned {
		l := learnedFor(t, meta, 1)
		if tun != nil {
			l.cfg.Tunnelled = tun
		}
		l.now = func() time.Time { return clock }
		return l
	}
	l := newLearned(tunnelled)
	l.Learn(ctx, "p", pairs(map[string]string{"1.0": "https://a.test/x.zip"}))
	// The bound is reached; the tunnelled host is learned all the same.
	l.Learn(ctx, "q", pairs(map[string]string{"1.0": "https://t.test/y.zip", "2.0": "https://b.test/z.zip"}))
	if !l.HasOrigin(ctx, "https://t.test:443") {
		t.Fatal("a tunnelled host past the bound was not learned")
	}
	if l.HasOrigin(ctx, "https://b.test:443") {
		t.Error("a host past the bound was learned")
	}

	clock = clock.Add(2 * DefaultLearnedTTL)
	if l.HasOrigin(ctx, "https://a.test:443") {
		t.Error("a host named only by old metadata is still intercepted")
	}
	if !l.HasOrigin(ctx, "https://t.test:443") {
		t.Error("a tunnelled host expired: the proxy would tunnel its archives")
	}
	l.Learn(ctx, "r", pairs(map[string]string{"1.0": "https://c.test/w.zip"})) // drops what expired, stores
	if again := newLearned(tunnelled); !again.HasOrigin(ctx, "https://t.test:443") {
		t.Error("after a restart, a tunnelled host learned long ago is forgotten")
	}
	// No longer allowed: it expires as any other host (and the proxy
	// refuses it).
	if again := newLearned(nil); again.HasOrigin(ctx, "https://t.test:443") {
		t.Error("a host that is no longer tunnelled is kept for good")
	}
}

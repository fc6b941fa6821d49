package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signNPM signs a version's tarball with key (a prefix) and returns the
// statement file; it is not logged.
func (w *world) signNPM(key string, v *npmVersion, tgz []byte) string {
	w.t.Helper()
	base := strings.NewReplacer("/", "_", "@", "").Replace(v.Name) + "-" + v.Version + "-" + filepath.Base(key)
	tgzPath := filepath.Join(w.dir, base+".tgz")
	writeFile(w.t, tgzPath, tgz)
	out := filepath.Join(w.dir, base+".sig")
	sigil(w.t, w.dir, "sign", "--key", key+".key", "--ecosystem", "npm", "--package", v.Name,
		"--version", v.Version, "--out", out, tgzPath)
	return out
}

// npmScenario publishes, signs and logs the npm cases:
//
//	@acme/good      1.0.0 signed and logged                         → installs
//	@acme/tampered  1.0.0 signed; the registry then serves other bytes (and a matching integrity)
//	@acme/swapped   1.0.0 signed; the registry then serves other bytes under the signed integrity
//	@acme/deps      1.0.0 signed; the packument then gains a dependency
//	@acme/newer     1.0.0 signed, 1.1.0 unsigned
//	free-pkg        1.0.0, nobody ever registered a key (unsigned)
func npmScenario(t *testing.T) (*world, *npmRegistry) {
	t.Helper()
	needClient(t, "npm")
	w := newWorld(t)
	reg := newNPMRegistry(t)
	acme := w.key("acme-npm")
	w.ecoEvent("npm", "add", w.coreKey(), "@acme", acme)
	index := func(s string) map[string]string {
		return map[string]string{"index.js": "module.exports = '" + s + "';\n"}
	}
	signLog := func(v *npmVersion) {
		w.add(w.signNPM(acme, v, reg.add(t, v)))
	}
	signLog(&npmVersion{Name: "@acme/good", Version: "1.0.0", Files: index("good")})

	tampered := &npmVersion{Name: "@acme/tampered", Version: "1.0.0", Files: index("tampered")}
	signLog(tampered)
	reg.tamper(tampered, npmTarball(t, map[string]string{
		"package.json": `{"name":"@acme/tampered","version":"1.0.0","main":"index.js"}`,
		"index.js":     "module.exports = 'evil';\n",
	}))

	swapped := &npmVersion{Name: "@acme/swapped", Version: "1.0.0", Files: index("swapped")}
	signLog(swapped)
	reg.swap(swapped, npmTarball(t, map[string]string{
		"package.json": `{"name":"@acme/swapped","version":"1.0.0","main":"index.js"}`,
		"index.js":     "module.exports = 'evil';\n",
	}))

	deps := &npmVersion{Name: "@acme/deps", Version: "1.0.0", Files: index("deps")}
	signLog(deps)
	reg.mu.Lock()
	deps.Deps = map[string]string{"free-pkg": "^1.0.0"}
	reg.mu.Unlock()

	signLog(&npmVersion{Name: "@acme/newer", Version: "1.0.0", Files: index("newer-old")})
	reg.add(t, &npmVersion{Name: "@acme/newer", Version: "1.1.0", Files: index("newer-new")})

	reg.add(t, &npmVersion{Name: "free-pkg", Version: "1.0.0", Files: index("free")})
	return w, reg
}

// npmRun installs deps with the machine's npm from registry, in a fresh
// project with its own npm cache, and returns the project, npm's output and
// whether it succeeded.
func npmRun(t *testing.T, registry string, deps map[string]string, extraEnv ...string) (string, string, bool) {
	t.Helper()
	return npmRunRC(t, registry, "", deps, extraEnv...)
}

// npmRunRC is npmRun with more lines for the project's .npmrc.
func npmRunRC(t *testing.T, registry, npmrc string, deps map[string]string, extraEnv ...string) (string, string, bool) {
	t.Helper()
	bin := needClient(t, "npm")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "package.json"), mustJSON(t, map[string]any{
		"name": "test-project", "version": "1.0.0", "private": true, "dependencies": deps,
	}))
	writeFile(t, filepath.Join(dir, ".npmrc"), []byte("registry="+registry+"\n"+npmrc))
	cmd := commandIn(dir, bin, "install", "--no-audit", "--no-fund", "--loglevel=notice",
		"--cache", filepath.Join(dir, ".npm-cache"), "--userconfig", filepath.Join(dir, ".npmrc"))
	cmd.Env = append(cleanEnv(), append([]string{"NO_UPDATE_NOTIFIER=1", "npm_config_update_notifier=false"}, extraEnv...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("npm install (%v):\n%s", err, out)
	return dir, string(out), err == nil
}

// npmInstalled returns the installed version of a package, or "".
func npmInstalled(t *testing.T, project, pkg string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(project, "node_modules", pkg, "package.json"))
	if err != nil {
		return ""
	}
	var pj struct{ Version string }
	json.Unmarshal(data, &pj)
	return pj.Version
}

func npmContent(t *testing.T, project, pkg string) string {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(project, "node_modules", pkg, "index.js"))
	return string(data)
}

func TestNPMEnforce(t *testing.T) {
	w, reg := npmScenario(t)
	proxy := w.serve("http://127.0.0.1:1", "--npm-upstream", reg.url())
	registry := proxy.url() + "/npm/"

	t.Run("signed version installs", func(t *testing.T) {
		dir, out, ok := npmRun(t, registry, map[string]string{"@acme/good": "^1.0.0"})
		if !ok || !strings.Contains(npmContent(t, dir, "@acme/good"), "good") {
			t.Fatalf("@acme/good did not install:\n%s", out)
		}
	})
	t.Run("tampered tarball is refused", func(t *testing.T) {
		dir, out, ok := npmRun(t, registry, map[string]string{"@acme/tampered": "^1.0.0"})
		if ok || npmContent(t, dir, "@acme/tampered") != "" {
			t.Fatalf("tampered tarball installed:\n%s", out)
		}
		wantAll(t, out, "@acme/tampered", "policy violations")
	})
	t.Run("swapped tarball bytes are refused", func(t *testing.T) {
		dir, out, ok := npmRun(t, registry, map[string]string{"@acme/swapped": "^1.0.0"})
		if ok || npmContent(t, dir, "@acme/swapped") != "" {
			t.Fatalf("swapped tarball installed:\n%s", out)
		}
		wantAll(t, out, "410", "sigil blocked", "@acme/swapped")
	})
	t.Run("packument that gains a dependency is refused", func(t *testing.T) {
		_, out, ok := npmRun(t, registry, map[string]string{"@acme/deps": "^1.0.0"})
		if ok {
			t.Fatalf("@acme/deps installed with an added dependency:\n%s", out)
		}
		wantAll(t, out, "@acme/deps", "manifest")
	})
	t.Run("unsigned newer version is kept out", func(t *testing.T) {
		dir, out, ok := npmRun(t, registry, map[string]string{"@acme/newer": "^1.0.0"})
		if !ok || npmInstalled(t, dir, "@acme/newer") != "1.0.0" {
			t.Fatalf("want the signed 1.0.0, got %q:\n%s", npmInstalled(t, dir, "@acme/newer"), out)
		}
	})
	t.Run("unsigned vendor installs under unsigned=warn", func(t *testing.T) {
		dir, out, ok := npmRun(t, registry, map[string]string{"free-pkg": "^1.0.0"})
		if !ok || npmInstalled(t, dir, "free-pkg") != "1.0.0" {
			t.Fatalf("free-pkg did not install:\n%s", out)
		}
	})
}

func TestNPMWarn(t *testing.T) {
	w, reg := npmScenario(t)
	proxy := w.serve("http://127.0.0.1:1", "--npm-upstream", reg.url(), "--mode", "warn")
	registry := proxy.url() + "/npm/"
	dir, out, ok := npmRun(t, registry, map[string]string{"@acme/tampered": "^1.0.0", "@acme/newer": "^1.0.0", "@acme/deps": "^1.0.0"})
	if !ok {
		t.Fatalf("warn mode refused an install:\n%s", out)
	}
	if got := npmContent(t, dir, "@acme/tampered"); !strings.Contains(got, "evil") {
		t.Errorf("warn mode: @acme/tampered content %q, want the served (tampered) bytes", got)
	}
	if got := npmInstalled(t, dir, "@acme/newer"); got != "1.1.0" {
		t.Errorf("warn mode: @acme/newer %q, want 1.1.0", got)
	}
	// npm prints the reasons, and they are in sigil's log, one line per
	// version.
	wantAll(t, out, "@acme/tampered@1.0.0", "@acme/newer@1.1.0", "@acme/deps@1.0.0", "served with warnings")
	// The tampered tarball itself is reported while npm installs it.
	wantAll(t, out, "npm notice sigil served @acme/tampered@1.0.0 with a warning")
	logs := proxy.logs.String()
	for _, want := range []string{"@acme/tampered", "@acme/newer@1.1.0", "@acme/deps"} {
		if !strings.Contains(logs, want) {
			t.Errorf("sigil's log does not mention %s:\n%s", want, logs)
		}
	}
}

func TestNPMUnsignedDeny(t *testing.T) {
	w, reg := npmScenario(t)
	proxy := w.serve("http://127.0.0.1:1", "--npm-upstream", reg.url(), "--unsigned", "deny")
	_, out, ok := npmRun(t, proxy.url()+"/npm/", map[string]string{"free-pkg": "^1.0.0"})
	if ok {
		t.Fatalf("unsigned free-pkg installed with --unsigned deny:\n%s", out)
	}
	wantAll(t, out, "free-pkg", "policy violations")
}

// TestNPMLockfileGoesThroughSigil: a lock file made against the upstream
// names the upstream's tarball URLs; with replace-registry-host=always (as
// examples/.npmrc and the README say) npm ci fetches them through sigil,
// which decides them like any other download.
func TestNPMLockfileGoesThroughSigil(t *testing.T) {
	w, reg := npmScenario(t)
	// The lock file, made straight from the upstream.
	dir, out, ok := npmRun(t, reg.url(), map[string]string{"free-pkg": "^1.0.0"})
	if !ok {
		t.Fatalf("install from the upstream failed:\n%s", out)
	}
	if lock := readFile(t, filepath.Join(dir, "package-lock.json")); !strings.Contains(lock, reg.srv.URL) {
		t.Fatalf("the lock file does not name the upstream's tarball URL:\n%s", lock)
	}
	proxy := w.serve("http://127.0.0.1:1", "--npm-upstream", reg.url(), "--unsigned", "deny")
	registry := proxy.url() + "/npm/"
	ci := func(extra ...string) (string, bool) {
		os.RemoveAll(filepath.Join(dir, "node_modules"))
		args := append([]string{"ci", "--no-audit", "--no-fund", "--registry", registry,
			"--cache", t.TempDir(), "--userconfig", filepath.Join(dir, ".npmrc")}, extra...)
		cmd := commandIn(dir, needClient(t, "npm"), args...)
		cmd.Env = append(cleanEnv(), "NO_UPDATE_NOTIFIER=1")
		out, err := cmd.CombinedOutput()
		t.Logf("npm %v (%v):\n%s", args, err, out)
		return string(out), err == nil
	}
	out, ok = ci("--replace-registry-host=always")
	if ok || npmInstalled(t, dir, "free-pkg") != "" {
		t.Fatalf("npm ci through sigil installed a package sigil denies:\n%s", out)
	}
	wantAll(t, out, "410", "free-pkg")
}

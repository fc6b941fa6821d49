package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotaryNPM is the split view, the new cache and the cooldown with the
// real npm: the log observes one registry; a second serves a victim other
// bytes for free-pkg (with a packument that matches them, so that npm's own
// integrity check passes) and another dependency for free-deps.
func TestNotaryNPM(t *testing.T) {
	needClient(t, "npm")
	honest, split := newNPMRegistry(t), newNPMRegistry(t)
	clock := filepath.Join(t.TempDir(), "clock")
	start := time.Now().UTC().Truncate(time.Second)
	writeFile(t, clock, []byte(start.Format(time.RFC3339)))
	env := []string{"SIGIL_TEST_CLOCK_FILE=" + clock}
	w := newWorldWith(t, []string{"--observe", "npm=" + honest.url()}, env)
	index := func(s string) map[string]string {
		return map[string]string{"index.js": "module.exports = '" + s + "';\n"}
	}
	for _, r := range []*npmRegistry{honest, split} {
		r.add(t, &npmVersion{Name: "free-pkg", Version: "1.0.0", Files: index("free")})
		r.add(t, &npmVersion{Name: "free-deps", Version: "1.0.0", Files: index("deps")})
	}
	split.tamper(split.versions["free-pkg"][0], npmTarball(t, map[string]string{
		"package.json": `{"name":"free-pkg","version":"1.0.0","main":"index.js"}`,
		"index.js":     "module.exports = 'evil';\n",
	}))
	split.mu.Lock()
	split.versions["free-deps"][0].Deps = map[string]string{"free-pkg": "^1.0.0"}
	split.mu.Unlock()

	serve := func(upstream string, flags ...string) string {
		addr := freeAddr(t)
		args := append([]string{"serve", "--listen", addr, "--cache-dir", t.TempDir(),
			"--log", w.log.url(), "--log-key", w.logKey, "--core-key", w.core, "--unsigned", "allow",
			"--composer-upstream", "http://127.0.0.1:1", "--npm-upstream", upstream}, flags...)
		return startDaemon(t, addr, "/-/healthz", env, args...).url() + "/npm/"
	}

	t.Run("cooldown", func(t *testing.T) {
		registry := serve(honest.url(), "--min-release-age", "24h")
		_, out, ok := npmRun(t, registry, map[string]string{"free-pkg": "^1.0.0"})
		if ok {
			t.Fatalf("a version observed just now installed under --min-release-age 24h:\n%s", out)
		}
		wantAll(t, out, "free-pkg", "min-release-age", "installable from "+start.Add(24*time.Hour).Format(time.RFC3339))
		writeFile(t, clock, []byte(start.Add(25*time.Hour).Format(time.RFC3339)))
		dir, out, ok := npmRun(t, registry, map[string]string{"free-pkg": "^1.0.0"})
		if !ok || !strings.Contains(npmContent(t, dir, "free-pkg"), "free") {
			t.Fatalf("did not install once old enough:\n%s", out)
		}
	})
	t.Run("honest view installs", func(t *testing.T) {
		dir, out, ok := npmRun(t, serve(honest.url()), map[string]string{"free-pkg": "^1.0.0", "free-deps": "^1.0.0"})
		if !ok || npmInstalled(t, dir, "free-deps") != "1.0.0" {
			t.Fatalf("honest view:\n%s", out)
		}
	})
	t.Run("split view: other bytes", func(t *testing.T) {
		dir, out, ok := npmRun(t, serve(split.url()), map[string]string{"free-pkg": "^1.0.0"})
		if ok || strings.Contains(npmContent(t, dir, "free-pkg"), "evil") {
			t.Fatalf("split-view bytes installed:\n%s", out)
		}
		wantAll(t, out, "free-pkg", "the release log observed")
	})
	t.Run("split view: other dependencies", func(t *testing.T) {
		_, out, ok := npmRun(t, serve(split.url()), map[string]string{"free-deps": "^1.0.0"})
		if ok {
			t.Fatalf("split-view dependencies installed:\n%s", out)
		}
		wantAll(t, out, "free-deps", "what the release log observed")
	})
	t.Run("split view in warn mode", func(t *testing.T) {
		dir, out, ok := npmRun(t, serve(split.url(), "--mode", "warn"), map[string]string{"free-pkg": "^1.0.0"})
		if !ok || !strings.Contains(npmContent(t, dir, "free-pkg"), "evil") {
			t.Fatalf("warn mode did not install:\n%s", out)
		}
	})
}

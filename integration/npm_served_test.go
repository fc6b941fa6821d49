package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNPMScriptsFromTheTarballOnly: npm runs the install scripts of the
// verified tarball, never those a packument adds. sigil serves no
// "scripts", only hasInstallScript, and npm then reads the tarball's
// package.json.
func TestNPMScriptsFromTheTarballOnly(t *testing.T) {
	needClient(t, "npm")
	w := newWorld(t)
	reg := newNPMRegistry(t)
	marks := t.TempDir()
	touch := func(name string) map[string]any {
		return map[string]any{"postinstall": "node -e \"require('fs').writeFileSync(process.argv[1], 'ran')\" " + filepath.Join(marks, name)}
	}
	// A package whose tarball has a postinstall script, which the
	// registry copies into the packument as it does on publish.
	reg.add(t, &npmVersion{Name: "free-scripted", Version: "1.0.0", Files: map[string]string{"index.js": "\n"},
		PackageJSON: map[string]any{"scripts": touch("tarball")}, Meta: map[string]any{"scripts": touch("tarball")}})
	// A package whose packument gains a script its tarball does not have.
	reg.add(t, &npmVersion{Name: "free-injected", Version: "1.0.0", Files: map[string]string{"index.js": "\n"},
		Meta: map[string]any{"scripts": touch("injected")}})
	proxy := w.serve("http://127.0.0.1:1", "--npm-upstream", reg.url(), "--mode", "enforce", "--unsigned", "allow")
	registry := proxy.url() + "/npm/"

	dir, out, ok := npmRun(t, registry, map[string]string{"free-scripted": "1.0.0"})
	if !ok || npmInstalled(t, dir, "free-scripted") != "1.0.0" {
		t.Fatalf("free-scripted did not install:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(marks, "tarball")); err != nil {
		t.Errorf("the tarball's own postinstall did not run (%v):\n%s", err, out)
	}

	// Enforce refuses the version (its install fields differ from the
	// tarball's); warn mode installs it, and only the allowlist keeps the
	// packument's script from running.
	warn := w.serve("http://127.0.0.1:1", "--npm-upstream", reg.url(), "--mode", "warn", "--unsigned", "allow")
	for _, reg := range []string{registry, warn.url() + "/npm/"} {
		_, out, _ = npmRun(t, reg, map[string]string{"free-injected": "1.0.0"})
		if _, err := os.Stat(filepath.Join(marks, "injected")); err == nil {
			t.Fatalf("npm ran a postinstall script that only the packument had:\n%s", out)
		}
	}
}

package integration

import (
	"testing"
)

// TestNPMInjectedDependencyUnsigned: the registry adds a dependency to an
// unsigned package that its own package.json does not have. The tarball is
// refused, so npm's install fails and nothing of it lands.
func TestNPMInjectedDependencyUnsigned(t *testing.T) {
	needClient(t, "npm")
	reg := newNPMRegistry(t)
	v := &npmVersion{Name: "free-pkg", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 'free';\n"}}
	reg.add(t, v)
	reg.add(t, &npmVersion{Name: "evil-dep", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 'evil';\n"}})
	reg.mu.Lock()
	v.Deps = map[string]string{"evil-dep": "^1.0.0"}
	reg.mu.Unlock()

	proxy := startServe(t, "--npm-upstream", reg.url(), "--unsigned", "allow")
	dir, out, ok := npmRun(t, proxy.url()+"/npm/", map[string]string{"free-pkg": "^1.0.0"})
	if ok {
		t.Fatalf("free-pkg installed with a dependency its package.json does not have:\n%s", out)
	}
	wantAll(t, out, "free-pkg", "archive's own manifest")
	if got := npmInstalled(t, dir, "free-pkg"); got != "" {
		t.Errorf("free-pkg is in node_modules: %q", got)
	}
}

// TestNPMShrinkwrap: a registry may leave "_hasShrinkwrap" out of the
// metadata of a tarball that holds npm-shrinkwrap.json (npm then ignores
// the file, with or without sigil), and such a package installs. Metadata
// that claims a shrinkwrap the tarball does not hold is refused.
func TestNPMShrinkwrap(t *testing.T) {
	needClient(t, "npm")
	reg := newNPMRegistry(t)
	shrinkwrap := `{"name":"wrapped","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"wrapped","version":"1.0.0"}}}`
	reg.add(t, &npmVersion{Name: "wrapped", Version: "1.0.0", Files: map[string]string{
		"index.js": "module.exports = 'wrapped';\n", "npm-shrinkwrap.json": shrinkwrap}})
	reg.add(t, &npmVersion{Name: "claims", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 'claims';\n"},
		Meta: map[string]any{"_hasShrinkwrap": true}})
	proxy := startServe(t, "--npm-upstream", reg.url())

	dir, out, ok := npmRun(t, proxy.url()+"/npm/", map[string]string{"wrapped": "^1.0.0"})
	if !ok {
		t.Fatalf("a package whose tarball holds npm-shrinkwrap.json, not announced in its metadata, did not install:\n%s", out)
	}
	if got := npmInstalled(t, dir, "wrapped"); got != "1.0.0" {
		t.Errorf("wrapped installed as %q", got)
	}

	dir, out, ok = npmRun(t, proxy.url()+"/npm/", map[string]string{"claims": "^1.0.0"})
	if ok {
		t.Fatalf("installed although its metadata claims a shrinkwrap its tarball does not hold:\n%s", out)
	}
	wantAll(t, out, "claims", "npm-shrinkwrap.json")
	if got := npmInstalled(t, dir, "claims"); got != "" {
		t.Errorf("claims is in node_modules: %q", got)
	}
}

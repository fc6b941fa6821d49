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

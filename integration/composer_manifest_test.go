package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComposerInjectedRequireUnsigned: the registry adds a require to an
// unsigned package that its own composer.json does not have. The archive is
// refused, so Composer's install fails and the injected package never lands.
func TestComposerInjectedRequireUnsigned(t *testing.T) {
	needClient(t, "composer")
	reg := newComposerRegistry(t)
	v := &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php\n"}}
	reg.add(t, v)
	reg.add(t, &composerVersion{Name: "evil/dep", Version: "v1.0.0", Files: map[string]string{"src/Evil.php": "<?php\n"}})
	reg.setRequire(v, map[string]string{"evil/dep": "^1.0"})

	s := startServe(t, "--composer-upstream", reg.url(), "--unsigned", "allow")
	dir, out, ok := composerRun(t, s.url(), map[string]string{"free/pkg": "^1.0"})
	if ok {
		t.Fatalf("free/pkg installed with a require its composer.json does not have:\n%s", out)
	}
	wantAll(t, out, "free/pkg", "archive's own manifest")
	if _, err := os.Stat(filepath.Join(dir, "vendor", "free", "pkg", "src", "Free.php")); err == nil {
		t.Errorf("free/pkg's files are in vendor/")
	}
}

// TestComposerRepublishedAsV: an unsigned 1.0.0 is pinned, then the registry
// serves v1.0.0 (the same version to Composer) with other files: refused.
func TestComposerRepublishedAsV(t *testing.T) {
	needClient(t, "composer")
	reg := newComposerRegistry(t)
	v := &composerVersion{Name: "free/pkg", Version: "1.0.0", Files: map[string]string{"src/Free.php": "<?php\n"}}
	reg.add(t, v)
	s := startServe(t, "--composer-upstream", reg.url(), "--unsigned", "allow",
		"--metadata-max-age", "0") // the registry changes under it: read every change at once
	if _, out, ok := composerRun(t, s.url(), map[string]string{"free/pkg": "1.0.0"}); !ok {
		t.Fatalf("free/pkg 1.0.0 did not install:\n%s", out)
	}

	reg.mu.Lock()
	reg.versions["free/pkg"] = nil
	reg.mu.Unlock()
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Ref: "cd" + v.Ref[2:], Files: map[string]string{"src/Free.php": "<?php system('id');\n"}})
	dir, out, ok := composerRun(t, s.url(), map[string]string{"free/pkg": "1.0.0"})
	if ok {
		t.Fatalf("v1.0.0 with other files installed after 1.0.0 was pinned:\n%s\n%s", out, installed(t, dir, "free/pkg", "src/Free.php"))
	}
	wantAll(t, out, "free/pkg", "first seen")
}

// TestComposerDevBranchNewCommit: a dev branch is pinned per commit, so the
// next commit of dev-main installs, while one commit cannot change content.
func TestComposerDevBranchNewCommit(t *testing.T) {
	needClient(t, "composer")
	reg := newComposerRegistry(t)
	first := &composerVersion{Name: "free/pkg", Version: "dev-main", Ref: strings.Repeat("1a", 20), Files: map[string]string{"src/Free.php": "<?php // one\n"}}
	reg.add(t, first)
	s := startServe(t, "--composer-upstream", reg.url(), "--unsigned", "allow",
		"--metadata-max-age", "0") // the registry changes under it: read every change at once
	dir, out, ok := composerRun(t, s.url(), map[string]string{"free/pkg": "dev-main"})
	if !ok || !strings.Contains(installed(t, dir, "free/pkg", "src/Free.php"), "one") {
		t.Fatalf("dev-main did not install:\n%s", out)
	}

	reg.mu.Lock()
	reg.versions["free/pkg"] = nil
	reg.mu.Unlock()
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "dev-main", Ref: strings.Repeat("2b", 20), Files: map[string]string{"src/Free.php": "<?php // two\n"}})
	dir, out, ok = composerRun(t, s.url(), map[string]string{"free/pkg": "dev-main"})
	if !ok || !strings.Contains(installed(t, dir, "free/pkg", "src/Free.php"), "two") {
		t.Fatalf("the next commit of dev-main did not install:\n%s", out)
	}

	// The same commit with other files does not install.
	reg.mu.Lock()
	reg.versions["free/pkg"] = nil
	reg.mu.Unlock()
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "dev-main", Ref: strings.Repeat("2b", 20), Files: map[string]string{"src/Free.php": "<?php // evil\n"}})
	// sigil serves the bytes it verified for that commit, or nothing.
	dir, out, _ = composerRun(t, s.url(), map[string]string{"free/pkg": "dev-main"})
	if strings.Contains(installed(t, dir, "free/pkg", "src/Free.php"), "evil") {
		t.Fatalf("one commit of dev-main changed content and installed:\n%s", out)
	}
}

// TestComposerSwappedDistReference: the metadata of a signed version claims
// another dist.reference than the signed source: blocked.
func TestComposerSwappedDistReference(t *testing.T) {
	needClient(t, "composer")
	w := newWorld(t)
	reg := newComposerRegistry(t)
	acme := w.key("acme-release")
	w.event("add", w.coreKey(), "acme", acme)
	v := &composerVersion{Name: "acme/ref", Version: "v1.0.0", Files: map[string]string{"src/Ref.php": "<?php\n"}}
	w.add(w.sign(acme, v, reg.add(t, v)))
	proxy := w.serve(reg.url(), "--mode", "enforce",
		"--metadata-max-age", "0") // the registry changes under it: read every change at once
	if _, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/ref": "^1.0"}); !ok {
		t.Fatalf("acme/ref did not install before the swap:\n%s", out)
	}

	reg.swapDistRef(v, strings.Repeat("cd", 20))
	dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/ref": "^1.0"})
	if ok || installed(t, dir, "acme/ref", "src/Ref.php") != "" {
		t.Fatalf("acme/ref installed with a swapped dist.reference:\n%s", out)
	}
	wantAll(t, out, "acme/ref", "dist.reference")
}

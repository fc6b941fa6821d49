package integration

import (
	"testing"
)

// TestComposerWithoutLog runs sigil as `make run` does, with no release log:
// every package is unsigned, and --unsigned decides.
func TestComposerWithoutLog(t *testing.T) {
	needClient(t, "composer")
	reg := newComposerRegistry(t)
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php\n"}})

	warn := startServe(t, "--composer-upstream", reg.url())
	dir, out, ok := composerRun(t, warn.url(), map[string]string{"free/pkg": "^1.0"})
	if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
		t.Fatalf("free/pkg did not install without a log:\n%s", out)
	}
	wantAll(t, out, "free/pkg", "unsigned")

	deny := startServe(t, "--composer-upstream", reg.url(), "--unsigned", "deny")
	if _, out, ok := composerRun(t, deny.url(), map[string]string{"free/pkg": "^1.0"}); ok {
		t.Fatalf("free/pkg installed with --unsigned deny:\n%s", out)
	}
}

// startServe starts sigil serve on a free loopback port with its own cache.
func startServe(t *testing.T, flags ...string) *daemon {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--listen", addr, "--cache-dir", t.TempDir()}, flags...)
	return startDaemon(t, addr, "/-/healthz", nil, args...)
}

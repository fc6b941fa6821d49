package integration

import (
	"strings"
	"testing"
)

// TestComposerWithoutLog runs sigil as `make run` does, with no release log:
// every package is unsigned, and --unsigned decides. The default is quiet:
// Composer's output has no sigil notice for a package that is merely
// unsigned, and sigil's log no line about it; a version's content changed
// at another registry never reaches the client.
func TestComposerWithoutLog(t *testing.T) {
	needClient(t, "composer")
	reg := newComposerRegistry(t)
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php\n"}})
	cache := t.TempDir()

	quiet := startServeIn(t, cache, "--composer-upstream", reg.url())
	dir, out, ok := composerRun(t, quiet.url(), map[string]string{"free/pkg": "^1.0"})
	if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
		t.Fatalf("free/pkg did not install without a log:\n%s", out)
	}
	if strings.Contains(out, "sigil") || strings.Contains(out, "unsigned") {
		t.Errorf("the default run printed a notice about an unsigned package:\n%s", out)
	}
	quiet.stop()
	if logs := quiet.logs.String(); strings.Contains(logs, "level=WARN msg=\"package decision\"") || strings.Contains(logs, "served under the unsigned") {
		t.Errorf("sigil's log warns about an unsigned package:\n%s", logs)
	}

	// The same version with other content, from another registry: its
	// bytes never reach the client. The archive stored under the first
	// registry is the version's pinned content, and it is what installs
	// (a changed download is refused as not first seen: see
	// TestComposerRepublishedAsV).
	other := newComposerRegistry(t)
	other.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php evil();\n"}})
	pinned := startServeIn(t, cache, "--composer-upstream", other.url())
	dir, out, ok = composerRun(t, pinned.url(), map[string]string{"free/pkg": "^1.0"})
	if got := installed(t, dir, "free/pkg", "src/Free.php"); !ok || got != "<?php\n" {
		t.Fatalf("free/pkg did not install its pinned content from the cache (src/Free.php is %q):\n%s", got, out)
	}

	warn := startServe(t, "--composer-upstream", reg.url(), "--unsigned", "warn")
	_, out, ok = composerRun(t, warn.url(), map[string]string{"free/pkg": "^1.0"})
	if !ok {
		t.Fatalf("free/pkg did not install with --unsigned warn:\n%s", out)
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
	return startServeIn(t, t.TempDir(), flags...)
}

// startServeIn starts sigil serve on a free loopback port with the cache
// in dir.
func startServeIn(t *testing.T, dir string, flags ...string) *daemon {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--listen", addr, "--cache-dir", dir}, flags...)
	return startDaemon(t, addr, "/-/healthz", nil, args...)
}

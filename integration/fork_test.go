package integration

import (
	"strings"
	"testing"
)

// TestComposerForkedLog: the log shows sigil one history, then another.
// sigil must notice, refuse the log with the evidence, keep refusing across
// a restart, and trust the log again only after an operator's reset.
func TestComposerForkedLog(t *testing.T) {
	needClient(t, "composer")
	w := newWorld(t)
	reg := newComposerRegistry(t)
	acme := w.key("acme-release")
	w.event("add", w.coreKey(), "acme", acme)
	good := &composerVersion{Name: "acme/good", Version: "v1.0.0", Files: map[string]string{"src/Good.php": "<?php\n"}}
	second := &composerVersion{Name: "acme/second", Version: "v1.0.0", Files: map[string]string{"src/Second.php": "<?php\n"}}
	goodSig := w.sign(acme, good, reg.add(t, good))
	secondSig := w.sign(acme, second, reg.add(t, second))
	w.add(goodSig, secondSig)

	cacheDir := t.TempDir()
	proxy := w.serveCache(reg.url(), cacheDir)
	if dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/good": "^1.0"}); !ok || installed(t, dir, "acme/good", "src/Good.php") == "" {
		t.Fatalf("acme/good did not install before the fork:\n%s", out)
	}

	// A second history: another first entry, then the same releases.
	w.forkLog()
	other := w.key("other-release")
	w.event("add", w.coreKey(), "other", other)
	w.event("add", w.coreKey(), "acme", acme)
	w.add(goodSig, secondSig)

	_, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/second": "^1.0"})
	if ok {
		t.Fatalf("acme/second installed from a forked log:\n%s", out)
	}
	wantAll(t, out, "acme/second", "SECURITY ERROR")
	if !strings.Contains(proxy.logs.String(), "SECURITY ERROR") {
		t.Errorf("sigil serve did not log the SECURITY ERROR:\n%s", proxy.logs.String())
	}

	// The refusal survives a restart; the evidence is there for the operator.
	proxy.stop()
	stdout, stderr, err := sigilResult(t, w.dir, nil, "log", "evidence", "--cache-dir", cacheDir, "--log-key", w.logKey)
	if err == nil || !strings.Contains(stdout, "SECURITY ERROR") || !strings.Contains(stdout, w.log.url()) {
		t.Fatalf("log evidence: %v\n%s\n%s", err, stdout, stderr)
	}
	proxy = w.serveCache(reg.url(), cacheDir)
	if _, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/good": "^1.0"}); ok {
		t.Fatalf("acme/good installed after a restart, with the fork unresolved:\n%s", out)
	}

	// The operator decides the new history is the true one.
	proxy.stop()
	sigil(t, w.dir, "log", "reset", "--cache-dir", cacheDir, "--log-key", w.logKey)
	proxy = w.serveCache(reg.url(), cacheDir)
	if dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/second": "^1.0"}); !ok || installed(t, dir, "acme/second", "src/Second.php") == "" {
		t.Fatalf("acme/second did not install after the reset:\n%s", out)
	}
}

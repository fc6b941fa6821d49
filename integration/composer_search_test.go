package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestComposerSearchThroughSigil: composer search asks sigil, which asks
// the registry's search API; Composer never reaches the registry itself
// (the packages.json sigil serves names no URL but sigil's).
func TestComposerSearchThroughSigil(t *testing.T) {
	w := newWorld(t)
	reg := newComposerRegistry(t)
	reg.add(t, &composerVersion{Name: "acme/searchable", Version: "v1.0.0", Files: map[string]string{"src/S.php": "<?php\n"}})
	reg.add(t, &composerVersion{Name: "other/pkg", Version: "v1.0.0", Files: map[string]string{"src/O.php": "<?php\n"}})
	reg.rootExtra = map[string]any{"search": "/search.json?q=%query%&type=%type%"}
	d := w.serve(reg.url())

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "composer.json"), mustJSON(t, map[string]any{
		"name": "test/project",
		"repositories": []any{
			map[string]any{"type": "composer", "url": d.url() + "/composer"},
			map[string]any{"packagist": false},
		},
		"config": map[string]any{"secure-http": false},
	}))
	bin := needClient(t, "composer")
	cmd := commandIn(dir, bin, "search", "searchable", "--no-interaction", "--no-ansi") // search has no --no-progress
	cmd.Env = append(cleanEnv(), "COMPOSER_HOME="+filepath.Join(dir, ".home"), "COMPOSER_CACHE_DIR="+filepath.Join(dir, ".cache"),
		"COMPOSER_ALLOW_SUPERUSER=1", "COMPOSER_NO_INTERACTION=1", "COMPOSER_DISABLE_XDEBUG_WARN=1")
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("composer search: %v\n%s", err, out)
	}
	wantAll(t, out, "acme/searchable", "the acme/searchable package")
	if strings.Contains(out, "other/pkg") {
		t.Errorf("the search found what it was not asked for:\n%s", out)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if len(reg.searchAgents) != 1 {
		t.Fatalf("the registry's search was asked %d times, want once (by sigil)", len(reg.searchAgents))
	}
	if ua := reg.searchAgents[0]; strings.HasPrefix(ua, "Composer") {
		t.Errorf("Composer asked the registry's search itself, around sigil (User-Agent %q)", ua)
	}
}

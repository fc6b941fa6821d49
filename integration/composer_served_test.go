package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestComposerAutoloadOutsidePackage: metadata that adds an autoload file
// outside the package (a file in no archive) never reaches the autoloader:
// the served install fields must equal the archive's own composer.json.
func TestComposerAutoloadOutsidePackage(t *testing.T) {
	needClient(t, "composer")
	w := newWorld(t)
	reg := newComposerRegistry(t)
	reg.add(t, &composerVersion{Name: "free/auto", Version: "v1.0.0",
		Files: map[string]string{"src/Auto.php": "<?php // auto\n"},
		Meta:  map[string]any{"autoload": map[string]any{"files": []any{"../../../../tmp/x.php"}}},
	})
	proxy := w.serve(reg.url(), "--mode", "enforce")
	dir, out, _ := composerRun(t, proxy.url(), map[string]string{"free/auto": "^1.0"})
	files, _ := os.ReadFile(filepath.Join(dir, "vendor", "composer", "autoload_files.php"))
	if strings.Contains(string(files), "tmp/x.php") {
		t.Fatalf("an autoload file outside the package reached vendor/composer/autoload_files.php:\n%s\ncomposer:\n%s", files, out)
	}
	wantAll(t, out, "free/auto")
}

// TestComposerRevokedLockNoGitFallback: a version locked through sigil has
// no source in the lock file; revoked later, `composer install` fails, and
// the git server the upstream's metadata names (reachable) is never asked.
func TestComposerRevokedLockNoGitFallback(t *testing.T) {
	needClient(t, "composer")
	var gitHits atomic.Int64
	git := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gitHits.Add(1)
		http.NotFound(w, r)
	}))
	defer git.Close()

	w := newWorld(t)
	reg := newComposerRegistry(t)
	key := w.key("lock-release")
	w.event("add", w.coreKey(), "lock", key)
	spare := w.key("lock-spare")
	w.event("add", key, "lock", spare)
	v := &composerVersion{Name: "lock/pkg", Version: "v1.0.0",
		Files: map[string]string{"src/Lock.php": "<?php // lock\n"}, SourceURL: git.URL + "/lock/pkg.git"}
	w.add(w.sign(key, v, reg.add(t, v)))

	addr, cacheDir := freeAddr(t), t.TempDir()
	proxy := w.serveAt(addr, reg.url(), cacheDir, "--mode", "enforce")
	dir, out, ok := composerRun(t, proxy.url(), map[string]string{"lock/pkg": "^1.0"})
	if !ok || installed(t, dir, "lock/pkg", "src/Lock.php") == "" {
		t.Fatalf("lock/pkg did not install:\n%s", out)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "composer.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var lf struct {
		Packages []map[string]json.RawMessage `json:"packages"`
	}
	if err := json.Unmarshal(lock, &lf); err != nil || len(lf.Packages) != 1 {
		t.Fatalf("composer.lock: %v\n%s", err, lock)
	}
	if src, ok := lf.Packages[0]["source"]; ok {
		t.Fatalf("the lock file made through sigil names a source: %s", src)
	}

	// The key is revoked; sigil starts again where the lock points, and
	// the project installs from its lock file with empty caches.
	w.event("revoke", spare, "lock", key)
	proxy.stop()
	w.serveAt(addr, reg.url(), cacheDir, "--mode", "enforce")
	for _, d := range []string{"vendor", ".cache"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	out, ok = composerIn(t, dir, "install")
	if ok || installed(t, dir, "lock/pkg", "src/Lock.php") != "" {
		t.Fatalf("a revoked version installed from the lock file:\n%s", out)
	}
	if n := gitHits.Load(); n != 0 {
		t.Fatalf("the git server got %d requests: Composer fell back to the source\n%s", n, out)
	}
	wantAll(t, out, "lock/pkg", "revoked")
}

// TestComposerFilterKeysPassThrough: Composer's filter lists (the root
// "filter" object and the p2 "filter" key) are in the documents sigil
// serves when the upstream has them. Composer 2.5 cannot act on them, so
// the documents are what is checked.
func TestComposerFilterKeysPassThrough(t *testing.T) {
	w := newWorld(t)
	reg := newComposerRegistry(t)
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php\n"}})
	reg.rootExtra = map[string]any{"filter": map[string]any{
		"metadata": true, "lists": map[string]any{"malware": map[string]any{"enabled": true}},
		"api-url": reg.url() + "/api/filter",
	}}
	reg.p2Extra = map[string]any{"filter": map[string]any{"malware": []any{map[string]any{"constraint": "1.0.0", "reason": "known malware"}}}}
	proxy := w.serve(reg.url())
	get := func(path string) map[string]any {
		t.Helper()
		resp, err := http.Get(proxy.url() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, b)
		}
		return doc
	}
	root := get("/composer/packages.json")
	f, _ := root["filter"].(map[string]any)
	if f["metadata"] != true || f["lists"] == nil || f["api-url"] != "/composer/api/filter/" {
		t.Errorf("packages.json filter %v, want the upstream's, with sigil's API route", root["filter"])
	}
	p2 := get("/composer/p2/free/pkg.json")
	pf, _ := p2["filter"].(map[string]any)
	if list, _ := pf["malware"].([]any); len(list) != 1 {
		t.Errorf("p2 filter %v, want the upstream's", p2["filter"])
	}
}

package main

import (
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/release"
)

func TestSweepStagingRemovesOnlyStagingDirs(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "sigil-downloads-123")
	rendered := filepath.Join(dir, "sigil-rendered-456")
	documents := filepath.Join(dir, "sigil-documents-789")
	keep := filepath.Join(dir, "000001.vlog")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "part"), []byte("unverified"), 0o600)
	for _, d := range []string{rendered, documents} {
		os.MkdirAll(d, 0o700)
		os.WriteFile(filepath.Join(d, "1"), []byte("{}"), 0o600)
	}
	os.WriteFile(keep, []byte("badger"), 0o600)
	sweepStaging(dir, slog.New(slog.DiscardHandler))
	for _, d := range []string{stale, rendered, documents} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("stale directory %s still there: %v", d, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("sweep removed a cache file: %v", err)
	}
}

func TestCoreKeys(t *testing.T) {
	_, k, err := release.GenerateKey(rand.Reader, "core")
	if err != nil {
		t.Fatal(err)
	}
	got, err := coreKeys([]string{k, "composer=" + k})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[release.Composer]) != 2 || len(got[release.NPM]) != 1 {
		t.Errorf("coreKeys = %v: a bare key is every ecosystem's, composer= only Composer's", got)
	}
	if _, err := coreKeys([]string{"pypi=" + k}); err == nil || !strings.Contains(err.Error(), "pypi") {
		t.Errorf("unknown ecosystem: %v", err)
	}
	if _, err := coreKeys([]string{"composer=not-a-key"}); err == nil {
		t.Error("malformed key accepted")
	}
}

func TestPointsAt(t *testing.T) {
	for _, c := range []struct {
		url, listen string
		want        bool
	}{
		{"http://127.0.0.1:8780/npm/", "127.0.0.1:8780", true},
		{"http://localhost:8780/composer", "127.0.0.1:8780", true},
		{"http://127.0.0.1:8781/", "127.0.0.1:8780", false},
		{"https://registry.example.test/", "127.0.0.1:8780", false},
		{"http://10.1.2.3:8780/", "127.0.0.1:8780", false},
		{"http://sigil.example.test:8780/", "0.0.0.0:8780", true},
	} {
		if got := pointsAt(c.url, c.listen); got != c.want {
			t.Errorf("pointsAt(%q, %q) = %v, want %v", c.url, c.listen, got, c.want)
		}
	}
}

package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestSweepStagingRemovesOnlyStagingDirs(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "sigil-downloads-123")
	keep := filepath.Join(dir, "000001.vlog")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "part"), []byte("unverified"), 0o600)
	os.WriteFile(keep, []byte("badger"), 0o600)
	sweepStaging(dir, slog.New(slog.DiscardHandler))
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale staging directory still there: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("sweep removed a cache file: %v", err)
	}
}

func TestCoreKeys(t *testing.T) {
	const k = "core+12345678+AQ=="
	if _, err := coreKeys([]string{"pypi=" + k}); err == nil {
		t.Error("unknown ecosystem accepted")
	}
	if _, err := coreKeys([]string{"composer=not-a-key"}); err == nil {
		t.Error("malformed key accepted")
	}
}

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog/server"
)

// TestLogAddBatches: 100 statements cost about one checkpoint interval,
// not 100: log add submits them together. The bound is in units of the
// interval, which is long against the cost of one add.
func TestLogAddBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a few checkpoint intervals")
	}
	interval := 2 * time.Second
	if raceEnabled {
		interval = 4 * time.Second
	}
	dir := t.TempDir()
	logKey, core, vendor := newTestKey(t, "log.example/batch"), newTestKey(t, "core"), newTestKey(t, "acme")
	url, _, stop, err := serveTestLog(filepath.Join(dir, "log"), logKey.skey, server.CoreKey{Key: core.vkey}, interval)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	evText, err := (&release.KeyEvent{Ecosystem: release.Composer, Namespace: "acme", Action: release.ActionAdd, Key: vendor.vkey}).Text()
	ev := writeNote(t, dir, "acme.event", mustText(t, evText, err), core.signer)
	if code, _, errOut := runCLI("log", "add", "--log", url, ev); code != 0 {
		t.Fatalf("adding the key: %d %s", code, errOut)
	}
	var files []string
	for i := range 100 {
		files = append(files, writeNote(t, dir, fmt.Sprintf("st%d", i), statementText(t, "acme/foo", fmt.Sprintf("1.0.%d", i), byte(i)), vendor.signer))
	}
	start := time.Now()
	code, out, errOut := runCLI(append([]string{"log", "add", "--log", url}, files...)...)
	elapsed := time.Since(start)
	if code != 0 || strings.Count(out, ": index ") != 100 {
		t.Fatalf("log add = %d, %d lines, %s", code, strings.Count(out, "\n"), errOut)
	}
	t.Logf("100 notes: %v, %.2f checkpoint intervals", elapsed, float64(elapsed)/float64(interval))
	if n := float64(elapsed) / float64(interval); n >= 3 {
		t.Errorf("100 notes took %.1f checkpoint intervals; want fewer than 3", n)
	}
}

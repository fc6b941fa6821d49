package proxy

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// observingLog is a fakeLog that can be asked to observe, counting how
// often it is.
type observingLog struct {
	*fakeLog
	asked atomic.Int64
}

func (l *observingLog) LookupVersions(ctx context.Context, eco, pkg string, versions []string) (*tlog.Lookup, error) {
	l.asked.Add(1)
	return l.Lookup(ctx, eco, pkg)
}

func TestObserveBeforeArchive(t *testing.T) {
	e := newTestEnv(t, nil)
	ol := &observingLog{fakeLog: e.log}
	e.v.log = ol
	zipb, _ := makeZip(t, map[string]string{"composer.json": `{"name":"acme/foo"}`, "src/Foo.php": "<?php"})
	url := e.up.set("/dist/acme-foo-1.0.0.zip", zipb)

	// The log observed other bytes than this upstream serves: blocked,
	// though this proxy never saw the version before.
	observed := unsigned(release.Composer, "acme/foo")
	observed.Observations = map[string]*tlog.Observation{"1.0.0": {Index: 5,
		Observation: &release.Observation{Tree: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Manifest: emptyManifest, Observed: time.Now()}}}
	e.ev.set("acme/foo", observed)
	_, err := e.v.Archive(context.Background(), facts("1.0.0", url))
	if err == nil || !strings.Contains(err.Error(), "the release log observed (observation at log index 5") {
		t.Fatalf("archive against another observation: %v", err)
	}
	if ol.asked.Load() != 0 {
		t.Errorf("asked the log to observe a version it had observed")
	}

	// Not observed yet: the log is asked once, however often the archive
	// is requested within the evidence TTL.
	e.ev.set("acme/foo", unsigned(release.Composer, "acme/foo"))
	e.v.evidence.entries.Purge()
	for range 3 {
		if _, err := e.v.Archive(context.Background(), facts("1.0.0", url)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ol.asked.Load(); n != 1 {
		t.Errorf("asked the log %d times to observe one version, want once", n)
	}
}

package integration

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestComposerUnderCacheCap: with a cache cap smaller than what an install
// stores, installs keep working (archives evicted meanwhile are fetched
// and verified again), and the cache comes back under the cap, as healthz
// shows.
func TestComposerUnderCacheCap(t *testing.T) {
	needClient(t, "composer")
	reg := newComposerRegistry(t)
	require := map[string]string{}
	for i := range 4 {
		name := fmt.Sprintf("big/pkg%d", i)
		// Random bytes do not compress: each archive is about 4 KB.
		reg.add(t, &composerVersion{Name: name, Version: "v1.0.0", Files: map[string]string{"data.bin": rand.Text() + rand.Text() + string(randomBytes(4000))}})
		require[name] = "^1.0"
	}
	const max = 8000
	d := startServe(t, "--composer-upstream", reg.url(), "--cache-max-size", "8KB")
	for run := range 2 {
		dir, out, ok := composerRun(t, d.url(), require)
		if !ok {
			t.Fatalf("run %d: install under the cache cap failed:\n%s", run, out)
		}
		for name := range require {
			if installed(t, dir, name, "data.bin") == "" {
				t.Errorf("run %d: %s not installed", run, name)
			}
		}
		h := waitUnderCap(t, d, max)
		if h.CacheMaxBytes != max {
			t.Errorf("healthz cache_max_bytes %d, want %d", h.CacheMaxBytes, max)
		}
	}
	hits := 0
	for name := range require {
		hits += reg.hitsFor(distPath(&composerVersion{Name: name, Version: "v1.0.0"}))
	}
	if hits <= len(require) {
		t.Errorf("%d archives fetched %d times over two installs: nothing was evicted", len(require), hits)
	}
}

type healthBody struct {
	CacheBytes    int64 `json:"cache_bytes"`
	CacheMaxBytes int64 `json:"cache_max_bytes"`
}

// waitUnderCap reads healthz until the cache is under max: eviction runs
// in the background, right after the write that went over.
func waitUnderCap(t *testing.T, d *daemon, max int64) healthBody {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(d.url() + "/-/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var h healthBody
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if h.CacheBytes > 0 && h.CacheBytes <= max {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache holds %d bytes, over its cap of %d", h.CacheBytes, max)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

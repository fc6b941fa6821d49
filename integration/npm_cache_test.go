package integration

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestNPMArchivesOutliveUpstreamChange: tarballs sigil verified and stored
// while following one registry are still installed after it is restarted
// on another (--npm-upstream changed) that serves the same packuments
// under its own URLs but cannot serve a single tarball. Before, every
// reference was keyed by the old registry's tarball URL, so the install
// failed with the new registry's 502.
func TestNPMArchivesOutliveUpstreamChange(t *testing.T) {
	needClient(t, "npm")
	index := "module.exports = 'free';\n"
	v := func() *npmVersion {
		return &npmVersion{Name: "free-pkg", Version: "1.0.0", Files: map[string]string{"index.js": index}}
	}
	old := newNPMRegistry(t)
	tgz := old.add(t, v())
	cacheDir := t.TempDir()
	d := startServeIn(t, cacheDir, "--npm-upstream", old.url())
	if _, out, ok := npmRun(t, d.url()+"/npm/", map[string]string{"free-pkg": "1.0.0"}); !ok {
		t.Fatalf("install through the first registry failed:\n%s", out)
	}
	d.stop()

	moved := newNPMRegistry(t)
	if !bytes.Equal(moved.add(t, v()), tgz) {
		t.Fatal("the fixture packs the same files into other bytes")
	}
	var tarballs atomic.Int64
	serve := moved.srv.Config.Handler
	moved.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".tgz") {
			tarballs.Add(1)
			http.Error(w, "archive storage down", http.StatusBadGateway)
			return
		}
		serve.ServeHTTP(w, r)
	})
	d = startServeIn(t, cacheDir, "--npm-upstream", moved.url())
	dir, out, ok := npmRun(t, d.url()+"/npm/", map[string]string{"free-pkg": "1.0.0"})
	if !ok {
		t.Fatalf("after the upstream changed, the stored tarball was not installed:\n%s", out)
	}
	if got := npmContent(t, dir, "free-pkg"); got != index {
		t.Errorf("installed index.js %q, want %q", got, index)
	}
	if n := tarballs.Load(); n != 0 {
		t.Errorf("the new registry was asked for %d tarballs: the stored one was not used", n)
	}
}

// TestNPMRepeatedInstallsDoNotGrowCache: the same install, repeated with
// every document fetched again from the registry (--metadata-max-age 0)
// and unchanged there, writes nothing to the cache: its directory takes
// the same space on disk after the fifth install as after the second.
// Each packument carries a 64 KB readme, so that storing one again would
// show.
func TestNPMRepeatedInstallsDoNotGrowCache(t *testing.T) {
	needClient(t, "npm")
	reg := newNPMRegistry(t)
	deps := map[string]string{}
	readme := strings.Repeat("All about this package. ", 64<<10/24)
	for i := range 5 {
		name := fmt.Sprintf("pkg%d", i)
		reg.add(t, &npmVersion{Name: name, Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = " + fmt.Sprint(i) + ";\n"},
			Meta: map[string]any{"readme": readme}})
		deps[name] = "1.0.0"
	}
	cacheDir := t.TempDir()
	d := startServeIn(t, cacheDir, "--npm-upstream", reg.url(), "--metadata-max-age", "0")
	var sizes []int64
	for run := range 5 {
		if _, out, ok := npmRun(t, d.url()+"/npm/", deps); !ok {
			t.Fatalf("install %d failed:\n%s", run+1, out)
		}
		sizes = append(sizes, allocated(t, cacheDir))
	}
	t.Logf("cache directory after each install (bytes on disk): %v", sizes)
	if sizes[4] != sizes[1] {
		t.Errorf("the cache grew from %d to %d bytes over three identical installs", sizes[1], sizes[4])
	}
}

// allocated is what the files under dir take on disk, as du counts.
func allocated(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNPMCacheDirUnderCap: installs that store twelve times the cap of
// incompressible tarballs leave sigil's cache directory within the bound
// the README gives (twice the cap, two value-log files of 16 MiB, and the
// index), where it used to keep every byte ever stored.
func TestNPMCacheDirUnderCap(t *testing.T) {
	needClient(t, "npm")
	const (
		capBytes = 8 << 20
		bound    = 2*capBytes + 2*16<<20 + 16<<20
		size     = 2 << 20
	)
	reg := newNPMRegistry(t)
	cacheDir := t.TempDir()
	d := startServeIn(t, cacheDir, "--npm-upstream", reg.url(), "--cache-max-size", "8MiB")
	for round := range 3 {
		deps := map[string]string{}
		for i := range 16 {
			name := fmt.Sprintf("big%d-%d", round, i)
			reg.add(t, &npmVersion{Name: name, Version: "1.0.0", Files: map[string]string{"data.bin": string(randomBytes(size))}})
			deps[name] = "1.0.0"
		}
		if _, out, ok := npmRun(t, d.url()+"/npm/", deps); !ok {
			t.Fatalf("round %d: install under the cap failed:\n%s", round, out)
		}
		waitUnderCap(t, d, capBytes)
		// Eviction gives the space back right after it lowered the usage.
		deadline := time.Now().Add(20 * time.Second)
		for {
			n := allocated(t, cacheDir)
			if n <= bound {
				t.Logf("round %d: %d MiB stored in all, the directory takes %d MiB", round, (round+1)*16*size>>20, n>>20)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d MiB stored in all through a cap of %d MiB: the directory takes %d MiB, over %d MiB",
					round, (round+1)*16*size>>20, capBytes>>20, n>>20, bound>>20)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

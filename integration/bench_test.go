package integration

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// The benchmarks here measure the whole sigil serve process over loopback
// HTTP, against a plain static file server serving the same bytes on the
// same machine: what a Composer client sees. Run them with
// scripts/bench-go.sh (make bench-go).

// staticUpstream writes a Composer repository to disk (packages.json, one
// package with versions versions, and one archive of archiveMiB MiB) and
// serves it with http.FileServer: the baseline.
func staticUpstream(b testing.TB, versions, archiveMiB int) (*httptest.Server, string) {
	b.Helper()
	dir := b.TempDir()
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(dir)))
	srv.Start()
	b.Cleanup(srv.Close)

	writeFile(b, filepath.Join(dir, "packages.json"), []byte(`{"packages":[],"metadata-url":"/p2/%package%.json"}`))
	var list []map[string]any
	for i := range versions {
		v := fmt.Sprintf("v%d.%d.%d", 1+i/100, (i/10)%10, i%10)
		list = append(list, map[string]any{
			"name": "acme/big", "version": v, "type": "library",
			"require": map[string]string{"php": ">=8.1", "psr/log": "^3.0"},
			"dist":    map[string]any{"type": "zip", "url": srv.URL + "/dist/big.zip", "reference": fmt.Sprintf("%040d", i)},
		})
	}
	doc, _ := json.Marshal(map[string]any{"packages": map[string]any{"acme/big": list}})
	writeFile(b, filepath.Join(dir, "p2", "acme", "big.json"), doc)
	files := map[string]string{"composer.json": `{"name":"acme/big","require":{"php":">=8.1","psr/log":"^3.0"}}`}
	blob := make([]byte, 1<<20)
	for i := range archiveMiB {
		rand.Read(blob)
		files[fmt.Sprintf("bin/%03d.bin", i)] = string(blob)
	}
	writeFile(b, filepath.Join(dir, "dist", "big.zip"), zipTree(b, "acme-big-0000000", files))
	return srv, srv.URL
}

// sigilServe starts sigil serve (no release log, unsigned allowed: every
// version is decided and every archive tree-hashed and pinned) in front of
// upstream.
func sigilServe(b testing.TB, upstream string) string {
	b.Helper()
	via, _ := sigilServeDaemon(b, upstream)
	return via
}

// sigilServeDaemon is sigilServe that also returns the process.
func sigilServeDaemon(b testing.TB, upstream string) (string, *daemon) {
	b.Helper()
	addr := freeAddr(b)
	d := startDaemon(b, addr, "/-/healthz", nil, "serve", "--listen", addr, "--cache-dir", b.TempDir(),
		"--composer-upstream", upstream, "--unsigned", "allow")
	return "http://" + addr + "/composer", d
}

func get(b testing.TB, c *http.Client, url string) int64 {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return n
}

// BenchmarkServeMetadata500 is one /p2/ request for a package with 500
// versions: sigil (expand, 500 verdicts, rewrite, its own ETag) against
// the static file.
func BenchmarkServeMetadata500(b *testing.B) {
	if os.Getenv("SIGIL_SKIP_E2E") == "1" {
		b.Skip("SIGIL_SKIP_E2E=1")
	}
	_, up := staticUpstream(b, 500, 1)
	via := sigilServe(b, up)
	c := &http.Client{}
	b.Run("static", func(b *testing.B) {
		for b.Loop() {
			b.SetBytes(get(b, c, up+"/p2/acme/big.json"))
		}
	})
	b.Run("sigil", func(b *testing.B) {
		get(b, c, via+"/p2/acme/big.json") // warm: upstream fetched and cached
		for b.Loop() {
			b.SetBytes(get(b, c, via+"/p2/acme/big.json"))
		}
	})
}

// BenchmarkServeArchiveCached streams a cached 64 MiB archive: sigil (a
// fresh verdict, the bytes out of Badger) against the static file.
func BenchmarkServeArchiveCached(b *testing.B) {
	if os.Getenv("SIGIL_SKIP_E2E") == "1" {
		b.Skip("SIGIL_SKIP_E2E=1")
	}
	_, up := staticUpstream(b, 1, 64)
	via := sigilServe(b, up)
	c := &http.Client{}
	var doc struct {
		Packages map[string][]struct {
			Dist struct{ URL string } `json:"dist"`
		} `json:"packages"`
	}
	resp, err := c.Get(via + "/p2/acme/big.json")
	if err != nil {
		b.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || len(doc.Packages["acme/big"]) == 0 {
		b.Fatalf("metadata through sigil: %v", err)
	}
	dist := doc.Packages["acme/big"][0].Dist.URL
	b.Run("static", func(b *testing.B) {
		for b.Loop() {
			b.SetBytes(get(b, c, up+"/dist/big.zip"))
		}
	})
	b.Run("sigil", func(b *testing.B) {
		get(b, c, dist) // cold: downloaded, verified, cached
		for b.Loop() {
			b.SetBytes(get(b, c, dist))
		}
	})
}

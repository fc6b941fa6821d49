package npm

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// bigVersions makes a packument of about 21 MB, the size of the largest
// packuments of a public registry.
const bigVersions = 10000

// BenchmarkPackument_21MB_Warm is a warm request of a 21 MB packument
// (full form) over loopback HTTP: parsed, decided and rendered by the
// first request, so each one after is the Checker's verdicts, a lookup of
// the rendered document and a write. BenchmarkPackument_21MB_FileServer is
// the same bytes from http.FileServer; the goal is that sigil is not
// slower.
func BenchmarkPackument_21MB_Warm(b *testing.B) {
	r, _ := benchRig(b, bigVersions)
	r.checker.Facts = nil
	benchGet(b, r.Srv.URL+"/npm/big", int64(len(r.up.Docs[upstreamBase+"/big"])))
}

// BenchmarkPackument_21MB_FileServer serves the upstream packument of
// BenchmarkPackument_21MB_Warm from a file, with http.FileServer.
func BenchmarkPackument_21MB_FileServer(b *testing.B) {
	k := newRegKey(b)
	doc := bigPackument(b, k, bigVersions)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), doc, 0o600); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	benchGet(b, srv.URL+"/big", int64(len(doc)))
}

// benchGet GETs u b.N times, after one request that warms it up.
func benchGet(b *testing.B, u string, size int64) {
	get := func() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	get()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		get()
	}
}

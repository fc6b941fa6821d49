package npm

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

// bigVersions makes a packument of about 21 MB, the size of the largest
// packuments of a public registry.
const bigVersions = 13500

// BenchmarkPackument_21MB_Warm is a warm request of a 21 MB packument
// (full form) over loopback HTTP, as sigil serve answers it: the real
// Upstream (the upstream's document fresh, within --metadata-max-age), the
// real Verifier (no log: unsigned, allowed) and the registry's signatures
// checked. The first request parses, decides and renders; each one after
// is a lookup of the kept rendered document (in a file, as serve keeps
// one this large), the Verifier's word that its verdicts are current, and
// a write of the file. BenchmarkPackument_21MB_FileServer is
// the same upstream bytes from http.FileServer; the goal is that sigil is
// not slower.
func BenchmarkPackument_21MB_Warm(b *testing.B) {
	k := newRegKey(b)
	doc := bigPackument(b, k, bigVersions)
	keys := []byte(keysDoc([]*regKey{k}))
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/npm/v1/keys" {
			w.Write(keys)
			return
		}
		w.Write(doc)
	}))
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	upstream, v, store := fronttest.Served(b, up.Client())
	h, err := New(Config{UpstreamURL: upURL, Upstream: upstream, Checker: v, Served: store, Keys: store,
		RegistrySignatures: SignaturesWarn, Logger: slog.New(slog.DiscardHandler), RenderedDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	benchGet(b, srv.URL+"/npm/big", int64(len(doc)))
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

package proxy

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// bigZip returns a zip of n MiB of incompressible content, stored (not
// deflated) as large vendor archives with bundled binaries are, and its
// tree hash.
func bigZip(b *testing.B, mib int) ([]byte, string) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	chunk := randomBytes(1 << 20)
	for i := range mib {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("pkg/bin/%03d.bin", i), Method: zip.Store})
		if err != nil {
			b.Fatal(err)
		}
		chunk[0] = byte(i) // every file different
		w.Write(chunk)
	}
	zw.Close()
	info, err := release.HashArchive(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "composer.json", release.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	return buf.Bytes(), info.Tree
}

// BenchmarkArchiveCached measures serving a cached 64 MiB archive: the
// Checker's path (reference, blob, facts, a fresh verdict) and the bytes
// out of Badger on disk. "static" is the baseline: the same bytes served
// by http.ServeFile from a plain file, over the same loopback HTTP.
func BenchmarkArchiveCached(b *testing.B) {
	const mib = 64
	zipb, tree := bigZip(b, mib)
	store, err := cache.Open(b.TempDir(), cache.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	up := newArchiveServer(b)
	url := up.set("/dist/big.zip", zipb)
	ev := &fakeEvidence{}
	ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest}))
	v, err := NewVerifier(VerifierConfig{Log: &fakeLog{size: 10}, Cache: StoreCache(store), Client: up.Client(), TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	v.evaluate = ev.evaluate
	f := facts("1.0.0", url)
	a, err := v.Archive(context.Background(), f)
	if err != nil {
		b.Fatal(err)
	}
	a.Closer.Close()

	b.Run("checker", func(b *testing.B) {
		b.SetBytes(int64(len(zipb)))
		for b.Loop() {
			a, err := v.Archive(context.Background(), f)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, a.Body); err != nil {
				b.Fatal(err)
			}
			a.Closer.Close()
		}
	})

	served := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := v.Archive(r.Context(), f)
		if err != nil {
			http.Error(w, err.Error(), StatusOf(err))
			return
		}
		defer a.Closer.Close()
		http.ServeContent(w, r, "", a.ModTime, a.Body)
	}))
	defer served.Close()
	file := filepath.Join(b.TempDir(), "big.zip")
	if err := os.WriteFile(file, zipb, 0o644); err != nil {
		b.Fatal(err)
	}
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, file)
	}))
	defer static.Close()
	for name, srv := range map[string]*httptest.Server{"http": served, "static": static} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(zipb)))
			for b.Loop() {
				resp, err := srv.Client().Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n != int64(len(zipb)) {
					b.Fatalf("%d bytes", n)
				}
			}
		})
	}
}

// BenchmarkArchiveCold measures a first download of a 16 MiB archive:
// fetched, staged while hashed, tree-hashed, decided, stored in Badger on
// disk and served from it. "proxy" is the baseline: the same bytes through
// a plain reverse proxy. Every request gets distinct bytes (the zip comment
// carries a counter), so nothing is served from the cache.
func BenchmarkArchiveCold(b *testing.B) {
	const mib = 16
	zipb, tree := bigZip(b, mib)
	base := setComment(b, zipb, "00000000")
	var counter atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(base)))
		w.Write(base[:len(base)-8])
		fmt.Fprintf(w, "%08d", counter.Add(1)%1e8)
	}))
	defer up.Close()
	store, err := cache.Open(b.TempDir(), cache.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	v, err := NewVerifier(VerifierConfig{Log: &fakeLog{size: 10}, Cache: StoreCache(store), Client: up.Client(), TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	// Every version is signed with the same tree: the comment is not
	// part of it.
	signedAll := acmeFoo()
	for i := range 4096 {
		signedAll.Statement(3, release.Statement{Version: fmt.Sprintf("1.0.%d", i), Tree: tree, Manifest: emptyManifest}, "acme")
	}
	ev := &policy.Evidence{Trust: signedAll.PackageTrust}
	v.evaluate = func(*tlog.Lookup) *policy.Evidence { return ev }
	var version atomic.Int64
	served := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := version.Add(1)
		a, err := v.Archive(r.Context(), facts(fmt.Sprintf("1.0.%d", n), up.URL+fmt.Sprintf("/dist/%d.zip", n)))
		if err != nil {
			http.Error(w, err.Error(), StatusOf(err))
			return
		}
		defer a.Closer.Close()
		http.ServeContent(w, r, "", a.ModTime, a.Body)
	}))
	defer served.Close()
	target, _ := url.Parse(up.URL)
	plain := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer plain.Close()

	for _, bench := range []struct {
		name string
		srv  *httptest.Server
	}{{"sigil", served}, {"proxy", plain}} {
		b.Run(bench.name, func(b *testing.B) {
			b.SetBytes(int64(len(base)))
			for b.Loop() {
				if version.Load() >= 4095 {
					b.Fatal("out of signed versions")
				}
				resp, err := bench.srv.Client().Get(bench.srv.URL + "/dist/x.zip")
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != int64(len(base)) {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
			}
		})
	}
}

// setComment rewrites the zip's end-of-central-directory comment (empty in
// bigZip's output) to comment, which then ends the file.
func setComment(b *testing.B, z []byte, comment string) []byte {
	const eocd = 22
	if len(z) < eocd || string(z[len(z)-eocd:len(z)-eocd+4]) != "PK\x05\x06" {
		b.Fatal("zip has a comment already")
	}
	out := append([]byte(nil), z...)
	out[len(out)-2], out[len(out)-1] = byte(len(comment)), byte(len(comment)>>8)
	return append(out, comment...)
}

// BenchmarkVersions measures deciding a package of 500 versions: "cached"
// with the evaluated evidence in memory (every request of a burst but the
// first), "evaluate" including the evaluation of 500 signed statements
// (the first request, log round trip aside).
func BenchmarkVersions(b *testing.B) {
	const n = 500
	key := newTestKey(b, "acme-release")
	core := newTestKey(b, "composer-core")
	lb := &logBuilder{t: b}
	lb.keyEvent("acme", release.ActionAdd, key, core)
	fs := make([]VersionFacts, n)
	for i := range n {
		version := fmt.Sprintf("1.%d.0", i)
		lb.statement(version, version, "abc", key)
		fs[i] = VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Package: "acme/foo", Version: version, Manifest: testManifest("m"), Source: "abc"}, ArchiveURL: "https://archives.test/a.zip"}
	}
	v, err := NewVerifier(VerifierConfig{
		Log:     &entriesLog{lb.entries},
		Policy:  &policy.Config{CoreKeys: map[string][]string{release.Composer: {core.vkey}}},
		Cache:   newMemCache(),
		TempDir: b.TempDir(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	check := func(out []VersionVerdict) {
		for i := range out {
			if out[i].Action != policy.Allow {
				b.Fatalf("%s: %s", fs[i].Version, out[i].Reason())
			}
		}
	}
	b.Run("cached", func(b *testing.B) {
		v.Versions(context.Background(), release.Composer, "acme/foo", fs)
		for b.Loop() {
			check(v.Versions(context.Background(), release.Composer, "acme/foo", fs))
		}
	})
	b.Run("evaluate", func(b *testing.B) {
		for b.Loop() {
			v.evidence.entries.Purge()
			check(v.Versions(context.Background(), release.Composer, "acme/foo", fs))
		}
	})
}

package proxy

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
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
	ev.set("acme/foo", signed(map[string]policy.Statement{"1.0.0": {Index: 3, Signer: "acme", Tree: tree, Manifest: "sha256:m"}}))
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
		fs[i] = VersionFacts{Ecosystem: release.Composer, Package: "acme/foo", Version: version, Manifest: testManifest("m"), Source: "abc"}
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

package observe

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sigilproxy/sigil/release"
)

// registry is an npm registry with one package, "left-pad", whose versions
// all share one tarball, counting what it serves.
type registry struct {
	srv               *httptest.Server
	tgz               []byte
	versions          int
	packuments, tgzes atomic.Int32
}

func newRegistry(t testing.TB, versions int) *registry {
	r := &registry{tgz: tarball(t), versions: versions}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, ".tgz") {
			r.tgzes.Add(1)
			w.Write(r.tgz)
			return
		}
		if req.URL.Path != "/left-pad" {
			http.NotFound(w, req)
			return
		}
		r.packuments.Add(1)
		var vs []string
		for i := range r.versions {
			vs = append(vs, fmt.Sprintf(`"1.0.%d":{"name":"left-pad","version":"1.0.%d","dist":{"tarball":"%s/left-pad/-/left-pad-1.0.%d.tgz"}}`, i, i, r.srv.URL, i))
		}
		fmt.Fprintf(w, `{"name":"left-pad","versions":{%s}}`, strings.Join(vs, ","))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func tarball(t testing.TB) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{"package/package.json": `{"name":"left-pad","version":"1.0.0"}`, "package/index.js": "module.exports = 1;\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestObserveNPM(t *testing.T) {
	r := newRegistry(t, 3)
	o, err := New(Config{Registries: map[string]string{release.NPM: r.srv.URL + "/"}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if o.Observes(release.Composer) || !o.Observes(release.NPM) {
		t.Errorf("Observes")
	}
	ms, err := o.Prepare(context.Background(), release.NPM, "left-pad", []string{"1.0.1", "9.9.9"})
	if err != nil || len(ms) != 1 || ms["1.0.1"] == nil {
		t.Fatalf("Prepare = %v, %v; want a measure of 1.0.1 only", ms, err)
	}
	obs, err := ms["1.0.1"](context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := release.Integrity(bytes.NewReader(r.tgz))
	if obs.Version != "1.0.1" || obs.Archive != want || !strings.HasPrefix(obs.Tree, "h1:") || !strings.HasPrefix(obs.Manifest, "sha256:") {
		t.Errorf("observation = %+v", obs)
	}
	if r.packuments.Load() != 1 || r.tgzes.Load() != 1 {
		t.Errorf("one observation fetched %d packuments and %d tarballs, want one each", r.packuments.Load(), r.tgzes.Load())
	}
	if _, err := New(Config{Registries: map[string]string{"pypi": r.srv.URL}}); err == nil {
		t.Error("an unknown ecosystem was accepted")
	}
}

// BenchmarkObserve is the cost of observing one version: one packument,
// one tarball download and its hashes.
func BenchmarkObserve(b *testing.B) {
	r := newRegistry(b, 1)
	o, err := New(Config{Registries: map[string]string{release.NPM: r.srv.URL + "/"}, TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		ms, err := o.Prepare(ctx, release.NPM, "left-pad", []string{"1.0.0"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ms["1.0.0"](ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(r.tgzes.Load())/float64(b.N), "downloads/op")
}

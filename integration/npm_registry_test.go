package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// npmRegistry is an npm registry served from the test on 127.0.0.1:
// packuments (scoped names in either encoding) and tarballs, which a test
// can change to play a compromised registry. It does not sign
// (/-/npm/v1/keys is 404), as a private registry would not.
type npmRegistry struct {
	srv *httptest.Server

	mu       sync.Mutex
	versions map[string][]*npmVersion
	tarballs map[string][]byte // path → bytes
}

type npmVersion struct {
	Name    string
	Version string
	Deps    map[string]string
	Files   map[string]string // files under package/, package.json added
	// PackageJSON are more members of the tarball's package.json; Meta
	// more members of the packument's version object.
	PackageJSON, Meta map[string]any
	// integrity is what the packument says; set by add, changed by tamper.
	integrity, shasum string
}

func newNPMRegistry(t *testing.T) *npmRegistry {
	r := &npmRegistry{versions: map[string][]*npmVersion{}, tarballs: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *npmRegistry) url() string { return r.srv.URL + "/" }

// add publishes a version and returns its tarball (what a vendor signs).
func (r *npmRegistry) add(t *testing.T, v *npmVersion) []byte {
	t.Helper()
	pj := map[string]any{"name": v.Name, "version": v.Version, "main": "index.js"}
	if len(v.Deps) > 0 {
		pj["dependencies"] = v.Deps
	}
	for k, val := range v.PackageJSON {
		pj[k] = val
	}
	files := map[string]string{"package.json": string(mustJSON(t, pj))}
	for k, s := range v.Files {
		files[k] = s
	}
	tgz := npmTarball(t, files)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.versions[v.Name] = append(r.versions[v.Name], v)
	r.setTarball(v, tgz)
	return tgz
}

// tamper makes the registry serve other bytes for a version, with a
// packument that matches them (so npm's own integrity check passes).
func (r *npmRegistry) tamper(v *npmVersion, tgz []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setTarball(v, tgz)
}

// swap makes the registry serve other bytes for a version while its
// packument keeps the old integrity: a CDN that serves a modified file.
func (r *npmRegistry) swap(v *npmVersion, tgz []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tarballs[tarballPath(v)] = tgz
}

func (r *npmRegistry) setTarball(v *npmVersion, tgz []byte) {
	sum := sha512.Sum512(tgz)
	v.integrity = "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	s1 := sha1.Sum(tgz)
	v.shasum = hex.EncodeToString(s1[:])
	r.tarballs[tarballPath(v)] = tgz
}

func tarballPath(v *npmVersion) string {
	base := v.Name
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[i+1:]
	}
	return "/" + v.Name + "/-/" + base + "-" + v.Version + ".tgz"
}

func (r *npmRegistry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	path, _ := url.PathUnescape(req.URL.EscapedPath())
	if data, ok := r.tarballs[path]; ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
		return
	}
	name := strings.TrimPrefix(path, "/")
	vs, ok := r.versions[name]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"not found"}`))
		return
	}
	versions := map[string]any{}
	times := map[string]string{"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z"}
	latest := ""
	for _, v := range vs {
		entry := map[string]any{
			"name": v.Name, "version": v.Version, "main": "index.js",
			"dist": map[string]any{"tarball": r.srv.URL + tarballPath(v), "integrity": v.integrity, "shasum": v.shasum},
		}
		if len(v.Deps) > 0 {
			entry["dependencies"] = v.Deps
		}
		for k, val := range v.Meta {
			entry[k] = val
		}
		versions[v.Version] = entry
		times[v.Version] = "2026-01-01T12:00:00.000Z"
		latest = v.Version
	}
	doc := map[string]any{"name": name, "dist-tags": map[string]string{"latest": latest}, "versions": versions, "time": times}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// npmTarball packs files under package/, as npm pack does.
func npmTarball(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range sortedKeys(files) {
		data := []byte(files[name])
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

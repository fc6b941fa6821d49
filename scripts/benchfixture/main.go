// Command benchfixture builds and serves the local registries of the
// end-to-end benchmark (scripts/bench.sh): an npm registry of synthetic
// packages and a static Composer repository, both generated
// deterministically, with a dependency graph that reaches every package from
// a fixed project. No network.
//
//	benchfixture gen -dir DIR -base URL [-npm 300] [-composer 200] [-large 0]
//	benchfixture serve -dir DIR -listen ADDR
//	benchfixture port
//	benchfixture load -url URL [-c 8] [-d 5s]
//
// gen writes DIR/npm (packuments and tarballs), DIR/composer (packages.json,
// p2 documents and zip archives) and the two projects, DIR/npm-project and
// DIR/composer-project, whose registry URLs the bench script fills in. URL
// is where serve will listen: archive URLs in the metadata are absolute.
// -large N gives N of the npm packages (dependencies, not roots) thousands
// of releases and packuments of about 10 MB, as the public registry's
// largest (TypeScript's, @types/node's) are: the memory benchmark uses
// them. Only their newest release, the one installed, has a tarball.
// serve answers npm's protocol (/npm/{name}, /npm/{name}/-/{file}.tgz) and
// serves DIR/composer as static files under /composer/. port prints a free
// TCP port on 127.0.0.1. load measures the latency of one URL under
// concurrent requests (load.go).
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchfixture: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: benchfixture gen|serve|port|load ...")
	}
	if os.Args[1] == "load" {
		fs := flag.NewFlagSet("load", flag.ExitOnError)
		u := fs.String("url", "", "URL to request")
		conns := fs.Int("c", 8, "connections, each with one request in flight")
		d := fs.Duration("d", 5*time.Second, "how long to measure")
		fs.Parse(os.Args[2:])
		must(load(*u, *conns, *d))
		return
	}
	if os.Args[1] == "port" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(err)
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		return
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "fixture directory")
	base := fs.String("base", "", "URL serve listens on (gen)")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (serve)")
	nNPM := fs.Int("npm", 300, "npm packages (gen)")
	nComposer := fs.Int("composer", 200, "Composer packages (gen)")
	nLarge := fs.Int("large", 0, "npm packages with thousands of releases (gen)")
	fs.Parse(os.Args[2:])
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	switch os.Args[1] {
	case "gen":
		if *base == "" {
			log.Fatal("gen: -base is required")
		}
		b := strings.TrimSuffix(*base, "/")
		must(genNPM(*dir, b+"/npm", *nNPM, *nLarge))
		must(genComposer(*dir, b+"/composer", *nComposer))
	case "serve":
		log.Fatal(serve(*dir, *listen))
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// graph is a deterministic dependency DAG over n packages: every package
// but the first roots has a dependent of a lower index, so the project
// that requires the roots reaches them all.
type graph struct {
	deps     [][]int
	versions []int // number of releases per package
	sizes    []int // bytes of source per package
	roots    []int
}

func newGraph(n int, seed uint64) *graph {
	r := rand.New(rand.NewPCG(seed, seed^0x5167))
	g := &graph{deps: make([][]int, n), versions: make([]int, n), sizes: make([]int, n)}
	nroots := max(1, n/20)
	for i := range nroots {
		g.roots = append(g.roots, i)
	}
	for j := nroots; j < n; j++ {
		p := r.IntN(j)
		g.deps[p] = append(g.deps[p], j)
		// A few more edges, as real graphs share dependencies.
		if r.IntN(3) == 0 {
			if q := r.IntN(j); q != p {
				g.deps[q] = append(g.deps[q], j)
			}
		}
	}
	for i := range n {
		// Most packages have a handful of releases, some many: packument
		// sizes spread as on a real registry.
		g.versions[i] = 2 + r.IntN(8)
		if r.IntN(10) == 0 {
			g.versions[i] = 20 + r.IntN(80)
		}
		g.sizes[i] = 2<<10 + r.IntN(60<<10)
	}
	return g
}

// version is release k of a package: 1.0.0, 1.1.0, ... The last is the
// one a "^1.0.0" range picks.
func version(k int) string { return fmt.Sprintf("1.%d.0", k) }

// largeReleases and largeDescription make a large package's packument
// about 10 MB.
const (
	largeReleases    = 3000
	largeDescription = 3000
)

// source is n bytes of deterministic filler that compresses about as
// well as real packages do (to some 60%): code lines and encoded data.
func source(name string, n int) []byte {
	h := sha512.Sum512([]byte(name))
	r := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
	var b bytes.Buffer
	raw := make([]byte, 48)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "export const f%d = (x) => x * %d + %q.length;\n", i, i, name)
		for j := range raw {
			raw[j] = byte(r.Uint32())
		}
		fmt.Fprintf(&b, "const d%d = %q;\n", i, base64.StdEncoding.EncodeToString(raw))
	}
	return b.Bytes()[:n]
}

func npmName(i int) string {
	if i%5 == 0 {
		return fmt.Sprintf("@bench/pkg-%03d", i)
	}
	return fmt.Sprintf("bench-pkg-%03d", i)
}

func genNPM(dir, base string, n, large int) error {
	g := newGraph(n, 1)
	big := map[int]bool{}
	for i := len(g.roots); i < min(n, len(g.roots)+large); i++ {
		big[i] = true
		g.versions[i] = largeReleases
	}
	published := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		name := npmName(i)
		deps := map[string]string{}
		for _, d := range g.deps[i] {
			deps[npmName(d)] = "^1.0.0"
		}
		versions, times := map[string]any{}, map[string]string{"created": published.Format(time.RFC3339)}
		var latest string
		for k := range g.versions[i] {
			v := version(k)
			manifest := map[string]any{"name": name, "version": v, "description": "benchmark package " + name,
				"main": "index.js", "license": "MIT"}
			if len(deps) > 0 {
				manifest["dependencies"] = deps
			}
			tgzName := path.Base(name) + "-" + v + ".tgz"
			// What dist describes: the tarball, or, for an old release
			// of a large package, which has none (nothing installs it),
			// its name; old releases came out hourly, the others daily.
			hashed, step := []byte(name+v), time.Hour
			if big[i] && k < g.versions[i]-1 {
				// What its packument says of it.
				manifest["description"] = strings.Repeat("benchmark package "+name+" ", largeDescription/(19+len(name)))
			} else {
				pj, err := json.MarshalIndent(manifest, "", "  ")
				if err != nil {
					return err
				}
				tgz, err := tarball(pj, source(name+v, g.sizes[i]))
				if err != nil {
					return err
				}
				file := filepath.Join(dir, "npm", filepath.FromSlash(name), "-", tgzName)
				if err := write(file, tgz); err != nil {
					return err
				}
				hashed, step, latest = tgz, 24*time.Hour, v
			}
			s512 := sha512.Sum512(hashed)
			s1 := sha1.Sum(hashed)
			manifest["dist"] = map[string]any{
				"tarball":   base + "/" + name + "/-/" + tgzName,
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]),
				"shasum":    hex.EncodeToString(s1[:]),
			}
			manifest["_id"] = name + "@" + v
			versions[v] = manifest
			times[v] = published.Add(time.Duration(k) * step).Format(time.RFC3339)
		}
		doc := map[string]any{"_id": name, "name": name, "dist-tags": map[string]string{"latest": latest},
			"versions": versions, "time": times, "license": "MIT"}
		body, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if err := write(filepath.Join(dir, "npm", filepath.FromSlash(name), "index.json"), body); err != nil {
			return err
		}
	}
	deps := map[string]string{}
	for _, r := range g.roots {
		deps[npmName(r)] = "^1.0.0"
	}
	pj, _ := json.MarshalIndent(map[string]any{"name": "bench-project", "version": "1.0.0", "private": true,
		"dependencies": deps}, "", "  ")
	return write(filepath.Join(dir, "npm-project", "package.json"), pj)
}

// tarball is an npm tarball: package/package.json and package/index.js.
func tarball(pj, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	mod := time.Date(1985, 10, 26, 8, 15, 0, 0, time.UTC)
	for _, f := range []struct {
		name string
		data []byte
	}{{"package/package.json", pj}, {"package/index.js", src}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: mod, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func composerName(i int) string { return fmt.Sprintf("bench/pkg-%03d", i) }

func genComposer(dir, base string, n int) error {
	g := newGraph(n, 2)
	var names []string
	for i := range n {
		name := composerName(i)
		names = append(names, name)
		require := map[string]string{}
		for _, d := range g.deps[i] {
			require[composerName(d)] = "^1.0"
		}
		class := strings.ReplaceAll(strings.TrimPrefix(name, "bench/"), "-", "")
		var list []any
		for k := range g.versions[i] {
			v := version(k)
			manifest := map[string]any{"name": name, "type": "library", "description": "benchmark package " + name,
				"license": "MIT", "autoload": map[string]any{"psr-4": map[string]string{"Bench\\" + class + "\\": "src/"}}}
			if len(require) > 0 {
				manifest["require"] = require
			}
			cj, err := json.MarshalIndent(manifest, "", "    ")
			if err != nil {
				return err
			}
			ref := fmt.Sprintf("%x", sha1.Sum([]byte(name+v)))
			zb, err := zipball(strings.ReplaceAll(name, "/", "-")+"-"+ref[:7], cj, source(name+v, g.sizes[i]))
			if err != nil {
				return err
			}
			file := name + "/" + v + ".zip"
			if err := write(filepath.Join(dir, "composer", "dist", filepath.FromSlash(file)), zb); err != nil {
				return err
			}
			entry := map[string]any{}
			for k, x := range manifest {
				entry[k] = x
			}
			entry["version"] = v
			entry["version_normalized"] = v + ".0"
			entry["time"] = time.Date(2024, 1, 1+k, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
			entry["dist"] = map[string]any{"type": "zip", "url": base + "/dist/" + file, "reference": ref, "shasum": ""}
			list = append([]any{entry}, list...) // newest first, as Packagist lists them
		}
		body, err := json.Marshal(map[string]any{"packages": map[string]any{name: list}})
		if err != nil {
			return err
		}
		if err := write(filepath.Join(dir, "composer", "p2", filepath.FromSlash(name)+".json"), body); err != nil {
			return err
		}
	}
	if err := genMany(dir, base); err != nil {
		return err
	}
	names = append(names, manyName)
	root, _ := json.Marshal(map[string]any{"packages": []any{}, "metadata-url": "/composer/p2/%package%.json",
		"available-packages": names})
	if err := write(filepath.Join(dir, "composer", "packages.json"), root); err != nil {
		return err
	}
	require := map[string]string{}
	for _, r := range g.roots {
		require[composerName(r)] = "^1.0"
	}
	cj, _ := json.MarshalIndent(map[string]any{"name": "bench/project", "require": require,
		"repositories": []any{map[string]any{"type": "composer", "url": "REPOSITORY"}, map[string]any{"packagist": false}},
		"config":       map[string]any{"secure-http": false}}, "", "    ")
	return write(filepath.Join(dir, "composer-project", "composer.json"), cj)
}

// manyName is a Composer package of manyVersions releases that no project
// requires: the latency measure of bench.sh asks for its metadata, the
// document of a long-lived library. Its archives are not written.
const (
	manyName     = "bench/many"
	manyVersions = 500
)

func genMany(dir, base string) error {
	list := make([]any, 0, manyVersions)
	for k := range manyVersions {
		v := fmt.Sprintf("%d.%d.%d", 1+k/100, k/10%10, k%10)
		ref := fmt.Sprintf("%x", sha1.Sum([]byte(manyName+v)))
		list = append([]any{map[string]any{"name": manyName, "version": v, "version_normalized": v + ".0",
			"type": "library", "description": "a benchmark package with many releases", "license": "MIT",
			"require":  map[string]string{"php": ">=8.1", composerName(0): "^1.0"},
			"autoload": map[string]any{"psr-4": map[string]string{"Bench\\Many\\": "src/"}},
			"time":     time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k).Format(time.RFC3339),
			"dist":     map[string]any{"type": "zip", "url": base + "/dist/" + manyName + "/" + v + ".zip", "reference": ref, "shasum": ""},
		}}, list...)
	}
	body, err := json.Marshal(map[string]any{"packages": map[string]any{manyName: list}})
	if err != nil {
		return err
	}
	return write(filepath.Join(dir, "composer", "p2", filepath.FromSlash(manyName)+".json"), body)
}

// zipball is a GitHub-style zipball: one top-level directory.
func zipball(top string, cj, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"composer.json", cj}, {"src/Lib.php", append([]byte("<?php\n/*\n"), append(src, "\n*/\n"...)...)}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: top + "/" + f.name, Method: zip.Deflate,
			Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func write(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}

// serve answers the npm protocol from DIR/npm and serves DIR/composer as
// static files.
func serve(dir, listen string) error {
	mux := http.NewServeMux()
	mux.Handle("/composer/", http.StripPrefix("/composer/", http.FileServer(http.Dir(filepath.Join(dir, "composer")))))
	npmDir := filepath.Join(dir, "npm")
	mux.HandleFunc("/npm/", func(w http.ResponseWriter, r *http.Request) {
		// npm asks for a scoped packument as /@scope%2fname: the decoded
		// path has the slash.
		p := strings.TrimPrefix(r.URL.Path, "/npm/")
		if strings.Contains(p, "..") {
			http.NotFound(w, r)
			return
		}
		if strings.Contains(p, "/-/") {
			http.ServeFile(w, r, filepath.Join(npmDir, filepath.FromSlash(p)))
			return
		}
		// Packuments come without ETag or Last-Modified, as from the
		// public registry: a proxy cannot revalidate them cheaply.
		body, err := os.ReadFile(filepath.Join(npmDir, filepath.FromSlash(p), "index.json"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

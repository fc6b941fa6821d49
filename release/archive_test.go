package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

// testEntry is one entry of an archive built by a test.
type testEntry struct {
	name string
	body string
	kind byte // 'f' file (default), 'l' symlink, 'd' directory, 'h' hard link, 'c' char device, 'p' fifo
}

// sampleTree is a small package: nested directories, an empty file, a
// binary file, an executable, a non-ASCII name.
func sampleTree() map[string]string {
	rnd := rand.New(rand.NewPCG(1, 2))
	bin := make([]byte, 3000)
	for i := range bin {
		bin[i] = byte(rnd.UintN(256))
	}
	return map[string]string{
		"composer.json":        `{"name":"acme/foo","require":{"php":">=8.1","Acme/Bar":"^1.0"}}` + "\n",
		"README.md":            "# foo\n\nA package.\n",
		"src/Foo.php":          "<?php\nnamespace Acme;\nclass Foo {}\n",
		"src/Sub/Bar.php":      "<?php\nnamespace Acme\\Sub;\nclass Bar {}\n",
		"bin/tool":             "#!/bin/sh\necho tool\n",
		"docs/naïve.md":        "naïve\n",
		"data/blob.bin":        string(bin),
		"tests/fixtures/empty": "",
	}
}

// sortedNames returns the names of tree, in a fixed order.
func sortedNames(tree map[string]string) []string {
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// entries turns tree into archive entries under prefix, in the given order.
func entries(tree map[string]string, prefix string, names []string) []testEntry {
	var es []testEntry
	for _, n := range names {
		es = append(es, testEntry{name: prefix + n, body: tree[n]})
	}
	return es
}

// hash1 is dirhash.Hash1 over an in-memory tree: the reference.
func hash1(t testing.TB, tree map[string]string) string {
	t.Helper()
	h, err := dirhash.Hash1(sortedNames(tree), func(name string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(tree[name])), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func makeTar(t testing.TB, es []testEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Format: tar.FormatPAX}
		switch e.kind {
		case 'l':
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.body
		case 'd':
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		case 'h':
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, e.body
		case 'c':
			hdr.Typeflag = tar.TypeChar
		case 'p':
			hdr.Typeflag = tar.TypeFifo
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeZip(t testing.TB, es []testEntry, method uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		fh := &zip.FileHeader{Name: e.name, Method: method}
		switch e.kind {
		case 'l':
			fh.SetMode(os.ModeSymlink | 0o777)
		case 'd':
			fh.SetMode(os.ModeDir | 0o755)
			fh.Method = zip.Store
		case 'p':
			fh.SetMode(os.ModeNamedPipe | 0o644)
		case 'c':
			fh.SetMode(os.ModeDevice | os.ModeCharDevice | 0o644)
		default:
			fh.SetMode(0o644)
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if e.kind != 'd' {
			if _, err := io.WriteString(w, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hashZipBytes(b []byte, manifest string, lim Limits) (*ArchiveInfo, error) {
	return HashZip(bytes.NewReader(b), int64(len(b)), manifest, lim)
}

// TestTreeHashFormatsAgree is the promise a vendor relies on: git archive
// of the tag, as tar and as zip, a zip of the same tree made otherwise, and
// an npm-style tarball all hash to the dirhash of the checked-out tree.
func TestTreeHashFormatsAgree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	tree := sampleTree()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	writeTree(t, repo, tree)
	if err := os.Chmod(filepath.Join(repo, "bin/tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "init", "-q")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "v1")
	git(t, repo, "tag", "v1.0.0")

	co := filepath.Join(dir, "checkout")
	git(t, dir, "clone", "-q", "--branch", "v1.0.0", repo, co)
	if err := os.RemoveAll(filepath.Join(co, ".git")); err != nil {
		t.Fatal(err)
	}
	want, err := dirhash.HashDir(co, "", dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	if ref := hash1(t, tree); ref != want {
		t.Fatalf("in-memory reference %s != HashDir %s", ref, want)
	}

	names := sortedNames(tree)
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	shuffled := slices.Clone(names)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	archives := map[string]func() (*ArchiveInfo, error){
		"git archive tar": func() (*ArchiveInfo, error) {
			b := git(t, repo, "archive", "--format=tar", "--prefix=acme-foo-1a2b3c/", "v1.0.0")
			return HashTar(bytes.NewReader(b), "composer.json", Limits{})
		},
		"git archive zip": func() (*ArchiveInfo, error) {
			return hashZipBytes(git(t, repo, "archive", "--format=zip", "--prefix=acme-foo-1a2b3c/", "v1.0.0"), "composer.json", Limits{})
		},
		"git archive tar.gz without prefix": func() (*ArchiveInfo, error) {
			b := git(t, repo, "archive", "--format=tar.gz", "v1.0.0")
			return HashTarGz(bytes.NewReader(b), "composer.json", Limits{})
		},
		"zip stored reversed": func() (*ArchiveInfo, error) {
			es := append([]testEntry{{name: "other-top/", kind: 'd'}}, entries(tree, "other-top/", reversed)...)
			return hashZipBytes(makeZip(t, es, zip.Store), "composer.json", Limits{})
		},
		"npm tgz shuffled": func() (*ArchiveInfo, error) {
			b := gzipBytes(t, makeTar(t, entries(tree, "package/", shuffled)))
			return HashTarGz(bytes.NewReader(b), "composer.json", Limits{})
		},
		"npm tgz with ./ inside names": func() (*ArchiveInfo, error) {
			// As some bundlers publish: node-tar writes package/./a to package/a.
			es := []testEntry{{name: "package/./.", kind: 'd'}}
			for _, n := range names {
				es = append(es, testEntry{name: "package/./" + n, body: tree[n]})
			}
			b := gzipBytes(t, makeTar(t, es))
			return HashTarGz(bytes.NewReader(b), "composer.json", Limits{})
		},
		"npm tgz with a file repeated": func() (*ArchiveInfo, error) {
			// As npm-packlist writes "main" a second time: both copies
			// are the same bytes, so the same file lands either way.
			es := entries(tree, "package/", names)
			es = append(es, testEntry{name: "package/./" + names[0], body: tree[names[0]]})
			b := gzipBytes(t, makeTar(t, es))
			return HashTarGz(bytes.NewReader(b), "composer.json", Limits{})
		},
		"tar with ./ prefix": func() (*ArchiveInfo, error) {
			b := makeTar(t, append([]testEntry{{name: "./", kind: 'd'}}, entries(tree, "./", names)...))
			return HashTar(bytes.NewReader(b), "composer.json", Limits{})
		},
	}
	for name, hash := range archives {
		t.Run(name, func(t *testing.T) {
			info, err := hash()
			if err != nil {
				t.Fatal(err)
			}
			if info.Tree != want {
				t.Errorf("tree %s, want %s", info.Tree, want)
			}
			if string(info.Manifest) != tree["composer.json"] {
				t.Errorf("manifest %q, want %q", info.Manifest, tree["composer.json"])
			}
			if info.Files != len(tree) {
				t.Errorf("files %d, want %d", info.Files, len(tree))
			}
		})
	}
}

func writeTree(t *testing.T, dir string, tree map[string]string) {
	t.Helper()
	for name, body := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// git runs git hermetically (no user or system config) and returns stdout.
func git(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=sigil", "-c", "user.email=sigil@example.com",
		"-c", "core.autocrlf=false", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// TestTreeHashChanges: the hash moves with any change of content or names.
func TestTreeHashChanges(t *testing.T) {
	base := sampleTree()
	hashOf := func(tree map[string]string) string {
		t.Helper()
		info, err := hashZipBytes(makeZip(t, entries(tree, "p/", sortedNames(tree)), zip.Deflate), "", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if want := hash1(t, tree); info.Tree != want {
			t.Fatalf("tree %s, want dirhash %s", info.Tree, want)
		}
		return info.Tree
	}
	h0 := hashOf(base)
	changes := map[string]func(map[string]string){
		"one byte": func(m map[string]string) {
			b := []byte(m["data/blob.bin"])
			b[1234] ^= 1
			m["data/blob.bin"] = string(b)
		},
		"added file":  func(m map[string]string) { m["src/New.php"] = "" },
		"renamed":     func(m map[string]string) { m["README.txt"] = m["README.md"]; delete(m, "README.md") },
		"removed":     func(m map[string]string) { delete(m, "tests/fixtures/empty") },
		"empty→space": func(m map[string]string) { m["tests/fixtures/empty"] = " " },
	}
	for name, change := range changes {
		tree := maps(base)
		change(tree)
		if h := hashOf(tree); h == h0 {
			t.Errorf("%s: tree hash unchanged", name)
		}
	}
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestSymlinkIsItsTarget: a symlink hashes as a file holding its target,
// the same in tar and zip.
func TestSymlinkIsItsTarget(t *testing.T) {
	es := []testEntry{
		{name: "pkg/lib/real.js", body: "module.exports = 1\n"},
		{name: "pkg/index.js", body: "lib/real.js", kind: 'l'},
	}
	want := hash1(t, map[string]string{"lib/real.js": "module.exports = 1\n", "index.js": "lib/real.js"})
	zi, err := hashZipBytes(makeZip(t, es, zip.Deflate), "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ti, err := HashTar(bytes.NewReader(makeTar(t, es)), "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if zi.Tree != want || ti.Tree != want {
		t.Errorf("zip %s, tar %s, want %s", zi.Tree, ti.Tree, want)
	}
}

// TestPrefixStripping: one top-level directory is removed only if every
// file lies in it; directories alone do not count.
func TestPrefixStripping(t *testing.T) {
	tests := []struct {
		name     string
		es       []testEntry
		want     map[string]string
		manifest string
	}{
		{"shared", []testEntry{{name: "a/package.json", body: "{}"}, {name: "a/x/y", body: "1"}},
			map[string]string{"package.json": "{}", "x/y": "1"}, "{}"},
		{"root files", []testEntry{{name: "package.json", body: "{}"}, {name: "x/y", body: "1"}},
			map[string]string{"package.json": "{}", "x/y": "1"}, "{}"},
		{"two tops", []testEntry{{name: "a/package.json", body: "{}"}, {name: "b/y", body: "1"}},
			map[string]string{"a/package.json": "{}", "b/y": "1"}, ""},
		{"stray directory", []testEntry{{name: "b/", kind: 'd'}, {name: "a/package.json", body: "{}"}},
			map[string]string{"package.json": "{}"}, "{}"},
		{"nested manifest only", []testEntry{{name: "a/b/package.json", body: "{}"}, {name: "a/c", body: ""}},
			map[string]string{"b/package.json": "{}", "c": ""}, ""},
		{"empty manifest", []testEntry{{name: "package/package.json"}},
			map[string]string{"package.json": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := HashTarGz(bytes.NewReader(gzipBytes(t, makeTar(t, tt.es))), "package.json", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if want := hash1(t, tt.want); info.Tree != want {
				t.Errorf("tree %s, want %s", info.Tree, want)
			}
			if string(info.Manifest) != tt.manifest {
				t.Errorf("manifest %q, want %q", info.Manifest, tt.manifest)
			}
			_, hasManifest := tt.want["package.json"]
			if (info.Manifest != nil) != hasManifest {
				t.Errorf("manifest nil = %v, want present = %v", info.Manifest == nil, hasManifest)
			}
		})
	}
}

// TestRefused: archives whose extraction would not give the files they
// name are refused, in both formats, naming the entry.
func TestRefused(t *testing.T) {
	// For tar, MaxTotalSize counts the whole stream: 512-byte headers and
	// padding too.
	small := Limits{MaxEntries: 5, MaxFileSize: 1000, MaxTotalSize: 3000, MaxManifestSize: 10}
	kb := strings.Repeat("x", 1000)
	f := func(name string) testEntry { return testEntry{name: name, body: "x"} }
	tests := []struct {
		name   string
		es     []testEntry
		lim    Limits
		want   error
		entry  string
		noZip  bool // zip cannot express it
		noTar  bool
		detail string
	}{
		{name: "dotdot", es: []testEntry{f("p/../../etc/passwd")}, want: ErrArchivePath, entry: "p/../../etc/passwd"},
		{name: "inner dotdot", es: []testEntry{f("p/a/../b")}, want: ErrArchivePath, entry: "p/a/../b"},
		{name: "absolute", es: []testEntry{f("/etc/passwd")}, want: ErrArchivePath, entry: "/etc/passwd"},
		{name: "backslash", es: []testEntry{f(`p\..\x`)}, want: ErrArchivePath, entry: `p\\..\\x`},
		{name: "newline", es: []testEntry{f("p/a\nb")}, want: ErrArchivePath},
		{name: "empty element", es: []testEntry{f("p//a")}, want: ErrArchivePath},
		{name: "dot then dotdot", es: []testEntry{f("p/./../x")}, want: ErrArchivePath, entry: "p/./../x"},
		{name: "duplicate through dot", es: []testEntry{f("p/a/b"), {name: "p/a/./b", body: "other"}}, want: ErrArchivePath, detail: "duplicate"},
		{name: "invalid utf8", es: []testEntry{f("p/\xff")}, want: ErrArchivePath},
		{name: "duplicate", es: []testEntry{f("p/a"), {name: "p/a", body: "other"}}, want: ErrArchivePath, detail: "duplicate"},
		{name: "duplicate zip", es: []testEntry{f("p/a"), f("p/a")}, want: ErrArchivePath, detail: "duplicate", noTar: true},
		{name: "duplicate file and link", es: []testEntry{{name: "p/a", body: "t"}, {name: "p/a", body: "t", kind: 'l'}}, want: ErrArchivePath, detail: "duplicate"},
		{name: "case", es: []testEntry{f("p/README"), f("p/readme")}, want: ErrArchivePath, detail: "case"},
		{name: "case folding", es: []testEntry{f("p/Straße"), f("p/STRASSE")}, want: ErrArchivePath, detail: "case"},
		{name: "kelvin", es: []testEntry{f("p/k"), f("p/\u212a")}, want: ErrArchivePath, detail: "case"},
		{name: "normalization", es: []testEntry{f("p/caf\u00e9"), f("p/cafe\u0301")}, want: ErrArchivePath, detail: "case"},
		{name: "file is dir", es: []testEntry{f("p/a"), f("p/A/b")}, want: ErrArchivePath, detail: "also a directory"},
		{name: "file and dir entry", es: []testEntry{f("p/a"), {name: "p/a/", kind: 'd'}}, want: ErrArchivePath},
		{name: "hard link", es: []testEntry{f("p/a"), {name: "p/b", body: "p/a", kind: 'h'}}, want: ErrArchivePath, entry: "p/b", noZip: true},
		{name: "char device", es: []testEntry{{name: "p/tty", kind: 'c'}}, want: ErrArchivePath, entry: "p/tty"},
		{name: "fifo", es: []testEntry{{name: "p/fifo", kind: 'p'}}, want: ErrArchivePath, entry: "p/fifo"},
		{name: "too many entries", es: []testEntry{f("1"), f("2"), f("3"), f("4"), f("5"), f("6")}, lim: small, want: ErrArchiveLimit},
		{name: "file too large", es: []testEntry{{name: "big", body: kb + "x"}}, lim: small, want: ErrArchiveLimit, entry: "big"},
		{name: "total too large", es: []testEntry{{name: "a", body: kb}, {name: "b", body: kb}, {name: "c", body: kb}, {name: "d", body: kb}}, lim: small, want: ErrArchiveLimit},
		{name: "manifest too large", es: []testEntry{{name: "p/composer.json", body: strings.Repeat(" ", 11)}}, lim: small, want: ErrArchiveLimit, entry: "p/composer.json"},
		{name: "manifest symlink", es: []testEntry{{name: "p/composer.json", body: "/etc/passwd", kind: 'l'}}, want: ErrArchiveFormat},
		{name: "dir mode without slash", es: []testEntry{{name: "p/d", kind: 'd'}}, want: ErrArchiveFormat, noTar: true},
		{name: "name too long", es: []testEntry{f("p/" + strings.Repeat("a", maxNameLen))}, want: ErrArchiveLimit},
	}
	for _, tt := range tests {
		for _, format := range []string{"tar", "zip"} {
			if format == "zip" && tt.noZip || format == "tar" && tt.noTar {
				continue
			}
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				var err error
				if format == "zip" {
					_, err = hashZipBytes(makeZip(t, tt.es, zip.Deflate), "composer.json", tt.lim)
				} else {
					_, err = HashTarGz(bytes.NewReader(gzipBytes(t, makeTar(t, tt.es))), "composer.json", tt.lim)
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if tt.entry != "" && !strings.Contains(err.Error(), `"`+tt.entry+`"`) {
					t.Errorf("error %q does not name entry %q", err, tt.entry)
				}
				if !strings.Contains(err.Error(), tt.detail) {
					t.Errorf("error %q does not say %q", err, tt.detail)
				}
			})
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tarball := makeTar(t, []testEntry{{name: "a", body: "b"}})
	tests := []struct {
		data []byte
		want Format
	}{
		{makeZip(t, []testEntry{{name: "a", body: "b"}}, zip.Deflate), FormatZip},
		{makeZip(t, nil, zip.Deflate), FormatZip},
		{tarball, FormatTar},
		{gzipBytes(t, tarball), FormatTarGz},
	}
	for _, tt := range tests {
		f, err := DetectFormat(tt.data[:min(len(tt.data), DetectFormatSize)])
		if err != nil || f != tt.want {
			t.Errorf("DetectFormat = %v, %v; want %v", f, err, tt.want)
		}
		info, err := HashArchive(bytes.NewReader(tt.data), int64(len(tt.data)), "", Limits{})
		if err != nil {
			t.Errorf("HashArchive(%v): %v", tt.want, err)
			continue
		}
		want := hash1(t, map[string]string{"a": "b"})
		if tt.want == FormatZip && info.Files == 0 {
			want = hash1(t, map[string]string{})
		}
		if info.Tree != want {
			t.Errorf("HashArchive(%v) = %s, want %s", tt.want, info.Tree, want)
		}
	}
	for _, junk := range [][]byte{nil, []byte("PK"), []byte("hello world"), make([]byte, 600)} {
		if _, err := DetectFormat(junk); !errors.Is(err, ErrArchiveFormat) {
			t.Errorf("DetectFormat(%q) err = %v", junk[:min(len(junk), 16)], err)
		}
		if _, err := HashArchive(bytes.NewReader(junk), int64(len(junk)), "", Limits{}); !errors.Is(err, ErrArchiveFormat) {
			t.Errorf("HashArchive(%q) err = %v", junk[:min(len(junk), 16)], err)
		}
	}
}

func TestManifestFile(t *testing.T) {
	if ManifestFile(Composer) != "composer.json" || ManifestFile(NPM) != "package.json" || ManifestFile("pypi") != "" {
		t.Error("ManifestFile")
	}
}

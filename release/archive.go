package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The tree hash of an archive is golang.org/x/mod/sumdb/dirhash's Hash1 over
// the archive's files, computed while the archive streams: each file is
// hashed as it is read and only its name and sum are kept, so memory depends
// on the number and length of names, never on the size of the content.
//
// A tree is refused, rather than hashed, when extracting it could not give
// the files it names: a path that is absolute or climbs out with "..", a name
// that two files share outright or once case is folded (they would overwrite
// each other on macOS and Windows), a file that is also a directory, a hard
// link or a device. Names must be valid UTF-8 without control characters or
// backslashes: dirhash's line format cannot carry a newline, and a name that
// means different things to different extractors cannot be signed.

// Errors returned by the archive functions wrap one of these, and name the
// offending entry where there is one.
var (
	// ErrArchiveFormat: the bytes are not a well-formed archive of a
	// supported kind (zip with stored or deflated entries, tar, tar.gz).
	ErrArchiveFormat = errors.New("malformed archive")
	// ErrArchivePath: an entry is unsafe to extract (see above).
	ErrArchivePath = errors.New("unsafe archive entry")
	// ErrArchiveLimit: the archive exceeds a Limits bound.
	ErrArchiveLimit = errors.New("archive exceeds limit")
)

// Limits bound what the archive functions read and keep. A zero field means
// the field's value in DefaultLimits.
type Limits struct {
	// MaxEntries bounds the number of entries of every kind: files,
	// directories, links, tar's pax headers.
	MaxEntries int
	// MaxTotalSize bounds the uncompressed bytes actually read, whatever
	// the headers claim: the whole tar stream for tar and tar.gz (and
	// the compressed input of a tar.gz), the inflated entry data for zip.
	MaxTotalSize int64
	// MaxFileSize bounds one file's content (a symlink's target).
	MaxFileSize int64
	// MaxManifestSize bounds the root manifest file kept in ArchiveInfo.
	MaxManifestSize int64
}

// DefaultLimits are far above any real package and far below what would
// hurt the proxy. The largest packages on npm and Packagist hold tens of
// thousands of files and some hundreds of megabytes (bundled binaries,
// icon sets, SDKs); 200,000 entries and 2 GiB leave an order of magnitude of
// room, while the memory they allow stays in the tens of megabytes (a name
// and a 32-byte sum per file). One file may be as large as 1 GiB, the
// manifest as large as maxManifestBytes.
var DefaultLimits = Limits{
	MaxEntries:      200_000,
	MaxTotalSize:    2 << 30,
	MaxFileSize:     1 << 30,
	MaxManifestSize: maxManifestBytes,
}

// Names are bounded on their own, as they are the memory an archive costs:
// 4096 bytes is Linux's PATH_MAX, so a longer name cannot be extracted on
// Linux anyway, and 64 MiB of names is some 300 bytes for each of
// DefaultLimits.MaxEntries.
const (
	maxNameLen   = 4096
	maxNameBytes = 64 << 20
)

// maxManifestBytes bounds a manifest file, here and in ManifestDigest, and
// a registry version object. Manifests are kilobytes; a registry version
// object may carry a readme, still rarely past a megabyte.
const maxManifestBytes = 8 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultLimits.MaxTotalSize
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultLimits.MaxFileSize
	}
	if l.MaxManifestSize <= 0 {
		l.MaxManifestSize = DefaultLimits.MaxManifestSize
	}
	return l
}

// ArchiveInfo is what hashing an archive finds.
type ArchiveInfo struct {
	// Tree is the "h1:" dirhash of the files, after the shared top-level
	// directory is removed.
	Tree string
	// Manifest is the content of the root manifest file (composer.json,
	// package.json) after that removal, or nil if there is none.
	Manifest []byte
	// RootFiles are the names of the files (symlinks included) at the root
	// of the tree, in order: what a registry's publish step looks at beside
	// the manifest (npm's *.gyp and npm-shrinkwrap.json).
	RootFiles []string
	// Files is the number of files hashed (symlinks included).
	Files int
	// Size is the sum of their sizes.
	Size int64
}

// ManifestFile returns the manifest file name of ecosystem eco, or "" for
// an unknown ecosystem.
func ManifestFile(eco string) string {
	switch eco {
	case Composer:
		return "composer.json"
	case NPM:
		return "package.json"
	}
	return ""
}

// Format is an archive format.
type Format int

const (
	FormatZip Format = iota + 1
	FormatTar
	FormatTarGz
)

func (f Format) String() string {
	switch f {
	case FormatZip:
		return "zip"
	case FormatTar:
		return "tar"
	case FormatTarGz:
		return "tar.gz"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// DetectFormatSize is how many leading bytes DetectFormat needs to
// recognize every format (a tar header's magic sits at offset 257).
const DetectFormatSize = 512

// DetectFormat recognizes an archive by its first bytes.
func DetectFormat(head []byte) (Format, error) {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return FormatZip, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return FormatTarGz, nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return FormatTar, nil
	}
	return 0, fmt.Errorf("%w: not a zip, tar or tar.gz archive", ErrArchiveFormat)
}

// HashArchive detects the format of the archive in r and hashes it. See
// HashZip and HashTar.
func HashArchive(r io.ReaderAt, size int64, manifestName string, lim Limits) (*ArchiveInfo, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrArchiveFormat, size)
	}
	head := make([]byte, min(size, DetectFormatSize))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading archive: %w", err)
	}
	f, err := DetectFormat(head)
	if err != nil {
		return nil, err
	}
	switch f {
	case FormatZip:
		return HashZip(r, size, manifestName, lim)
	case FormatTar:
		return HashTar(io.NewSectionReader(r, 0, size), manifestName, lim)
	default:
		return HashTarGz(io.NewSectionReader(r, 0, size), manifestName, lim)
	}
}

// entryError reports a problem with one entry, its name quoted and cut.
func entryError(name string, sentinel error, format string, args ...any) error {
	return fmt.Errorf("archive entry %s: %w: %s", quoteEntry(name), sentinel, fmt.Sprintf(format, args...))
}

func quoteEntry(name string) string {
	const max = 128
	if len(name) > max {
		return fmt.Sprintf("%q...(%d bytes)", name[:max], len(name))
	}
	return fmt.Sprintf("%q", name)
}

// entryKind is what an archive entry is, once its header is understood.
type entryKind int

const (
	kindFile entryKind = iota
	kindSymlink
	kindDir
)

func (k entryKind) String() string {
	return [...]string{kindFile: "file", kindSymlink: "symlink", kindDir: "directory"}[k]
}

// cleanName checks an entry name and returns it without its "." elements
// and, for a directory, without its trailing "/". A directory that names
// the root returns "". A "." element names the directory it is in, and
// every extractor (node-tar under npm, PHP's zip and unzip under Composer)
// writes "package/./dist/a.js" to package/dist/a.js; such names are real
// (some bundlers write them), so they are hashed where they land. A ".."
// element is refused: it could land outside the package.
func cleanName(raw string, kind entryKind) (string, error) {
	if len(raw) > maxNameLen {
		return "", entryError(raw, ErrArchiveLimit, "name longer than %d bytes", maxNameLen)
	}
	name := raw
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if strings.Contains(name, "/./") || strings.HasSuffix(name, "/.") {
		name = dropDotElements(name)
	}
	if kind == kindDir {
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			return "", nil
		}
	}
	if name == "" {
		return "", entryError(raw, ErrArchivePath, "empty name")
	}
	if !utf8.ValidString(name) {
		return "", entryError(raw, ErrArchivePath, "name is not valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", entryError(raw, ErrArchivePath, "name contains %q", c)
		}
	}
	if name[0] == '/' {
		return "", entryError(raw, ErrArchivePath, "absolute path")
	}
	for elem := range strings.SplitSeq(name, "/") {
		switch elem {
		case "":
			return "", entryError(raw, ErrArchivePath, "empty path element")
		case ".", "..":
			return "", entryError(raw, ErrArchivePath, "%q path element", elem)
		}
	}
	return name, nil
}

// dropDotElements removes the "." elements of a name after its first
// (cleanName has cut the leading ones); an empty element stays, for
// cleanName to refuse.
func dropDotElements(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for i, elem := range strings.Split(name, "/") {
		if i > 0 {
			if elem == "." {
				continue
			}
			b.WriteByte('/')
		}
		b.WriteString(elem)
	}
	return b.String()
}

// formatTree is dirhash.Hash1 over files already sorted by name, hashed.
func formatTree(files []fileSum) string {
	h := sha256.New()
	line := make([]byte, 0, 2*sha256.Size+2+64)
	for i := range files {
		line = hex.AppendEncode(line[:0], files[i].sum[:])
		line = append(line, "  "...)
		line = append(line, files[i].name...)
		line = append(line, '\n')
		h.Write(line)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// fileSum is one hashed file: its name as in the archive (cleanName's:
// "." elements removed) and the SHA-256 of its content.
type fileSum struct {
	name    string
	sum     [sha256.Size]byte
	symlink bool // the sum is of a link target
}

// manifestCandidate is a file that may turn out to be the root manifest:
// "composer.json" if nothing is stripped, "top/composer.json" if "top/" is.
type manifestCandidate struct {
	seen     bool
	symlink  bool
	tooLarge bool
	data     []byte
}

// treeBuilder collects the files of one archive, in two steps per file so
// that a zip can be checked whole before its data is read: add records and
// checks a name, hash reads the content.
type treeBuilder struct {
	lim          Limits
	manifestName string

	entries   int
	nameBytes int64
	size      int64 // content bytes hashed
	files     []fileSum
	dirs      []string // explicit directory entries, for the conflict check
	checked   bool     // checkNames already ran

	// top is the first path element shared by every file seen so far;
	// shared turns false when a file lies outside it (or at the root).
	top    string
	shared bool

	root, nested manifestCandidate

	h   hash.Hash // reused for every file
	buf []byte    // copy buffer, reused
}

func newTreeBuilder(manifestName string, lim Limits) *treeBuilder {
	return &treeBuilder{lim: lim.withDefaults(), manifestName: manifestName, shared: true}
}

// countEntry counts an entry of any kind against MaxEntries.
func (t *treeBuilder) countEntry(raw string) error {
	t.entries++
	if t.entries > t.lim.MaxEntries {
		return entryError(raw, ErrArchiveLimit, "more than %d entries", t.lim.MaxEntries)
	}
	return nil
}

// add checks the name of an entry of the given kind, counts it, and for a
// file or symlink returns the index to pass to hash; for a directory -1.
// declared is the size the header claims, checked against the limits
// early so that an honest header of a huge file costs nothing.
func (t *treeBuilder) add(raw string, kind entryKind, declared int64) (int, error) {
	if err := t.countEntry(raw); err != nil {
		return -1, err
	}
	name, err := cleanName(raw, kind)
	if err != nil {
		return -1, err
	}
	t.nameBytes += int64(len(name))
	if t.nameBytes > maxNameBytes {
		return -1, entryError(raw, ErrArchiveLimit, "names longer than %d bytes in total", maxNameBytes)
	}
	if kind == kindDir {
		if name != "" {
			t.dirs = append(t.dirs, name)
		}
		return -1, nil
	}
	if declared < 0 || declared > t.lim.MaxFileSize {
		return -1, entryError(raw, ErrArchiveLimit, "size %d exceeds %d bytes", declared, t.lim.MaxFileSize)
	}
	if top, _, ok := strings.Cut(name, "/"); !ok {
		t.shared = false
	} else if len(t.files) == 0 {
		t.top = top
	} else if top != t.top {
		t.shared = false
	}
	t.files = append(t.files, fileSum{name: name})
	return len(t.files) - 1, nil
}

// hash reads the content of file i from r, and returns how many bytes it
// read: never more than the limits allow, nor more than one byte past the
// size its header declared, whatever r would give. The caller compares
// the count with the declared size.
func (t *treeBuilder) hash(i int, r io.Reader, kind entryKind, declared int64) (int64, error) {
	f := &t.files[i]
	limit := min(t.lim.MaxFileSize, t.lim.MaxTotalSize-t.size)
	var cand *manifestCandidate
	switch {
	case t.manifestName == "":
	case f.name == t.manifestName:
		cand = &t.root
	case t.shared && f.name == t.top+"/"+t.manifestName:
		cand = &t.nested
	}
	if t.h == nil {
		t.h, t.buf = sha256.New(), make([]byte, 32<<10)
	}
	h := t.h
	h.Reset()
	var w io.Writer = h
	var man bytes.Buffer
	if cand != nil {
		*cand = manifestCandidate{seen: true, symlink: kind == kindSymlink}
		w = io.MultiWriter(h, &limitedBuffer{buf: &man, max: t.lim.MaxManifestSize, over: &cand.tooLarge})
	}
	n, err := io.CopyBuffer(w, io.LimitReader(r, min(limit, declared)+1), t.buf)
	t.size += n
	if err != nil {
		return n, fmt.Errorf("archive entry %s: %w", quoteEntry(f.name), err)
	}
	if n > limit {
		if n > t.lim.MaxFileSize {
			return n, entryError(f.name, ErrArchiveLimit, "content exceeds %d bytes", t.lim.MaxFileSize)
		}
		return n, entryError(f.name, ErrArchiveLimit, "archive content exceeds %d bytes", t.lim.MaxTotalSize)
	}
	h.Sum(f.sum[:0])
	f.symlink = kind == kindSymlink
	if cand != nil && !cand.tooLarge {
		cand.data = man.Bytes()
	}
	return n, nil
}

// limitedBuffer keeps at most max bytes and notes whether more came.
type limitedBuffer struct {
	buf  *bytes.Buffer
	max  int64
	over *bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - int64(b.buf.Len()); int64(len(p)) > room {
		*b.over = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

// prefix returns the top-level directory to strip, with its slash, or "".
func (t *treeBuilder) prefix() string {
	if t.shared && len(t.files) > 0 {
		return t.top + "/"
	}
	return ""
}

// finish checks the names as a whole, strips the shared top-level
// directory, and computes the tree hash.
func (t *treeBuilder) finish() (*ArchiveInfo, error) {
	if !t.checked {
		t.files = dropRepeats(t.files)
	}
	if err := t.checkNames(); err != nil {
		return nil, err
	}
	p := t.prefix()
	for i := range t.files {
		t.files[i].name = t.files[i].name[len(p):]
	}
	sortFiles(t.files)
	info := &ArchiveInfo{Tree: formatTree(t.files), Files: len(t.files), Size: t.size}
	for _, f := range t.files {
		if !strings.Contains(f.name, "/") {
			info.RootFiles = append(info.RootFiles, f.name)
		}
	}
	cand := &t.root
	if p != "" {
		cand = &t.nested
	}
	switch {
	case !cand.seen:
	case cand.symlink:
		return nil, entryError(p+t.manifestName, ErrArchiveFormat, "manifest is a symlink")
	case cand.tooLarge:
		return nil, entryError(p+t.manifestName, ErrArchiveLimit, "manifest exceeds %d bytes", t.lim.MaxManifestSize)
	default:
		info.Manifest = cand.data
		if info.Manifest == nil {
			info.Manifest = []byte{}
		}
	}
	return info, nil
}

// dropRepeats sorts files by name and keeps one of each run of entries
// that repeat a name with the same kind and content. Real npm tarballs
// have them (npm-packlist adds "main" again as "package/./dist/index.js"),
// and whichever copy an extractor keeps, the same bytes land. Repeats that
// differ stay for checkNames to refuse: which one lands depends on the
// extractor. A zip is checked before its content is read, so its repeats
// are all refused.
func dropRepeats(files []fileSum) []fileSum {
	sortFiles(files)
	return slices.CompactFunc(files, func(a, b fileSum) bool {
		return a.name == b.name && a.symlink == b.symlink && a.sum == b.sum
	})
}

func sortFiles(files []fileSum) {
	slices.SortFunc(files, func(a, b fileSum) int { return strings.Compare(a.name, b.name) })
}

// checkNames refuses names that could not coexist once extracted: equal
// outright or after case folding and Unicode normalization (as macOS and
// Windows compare names), or a file that is also a directory of another
// path. Names are compared after the shared top-level directory is removed;
// directory entries outside it are ignored, as they are not extracted.
//
// Each name becomes a key, folded and with "/" replaced by NUL (which no
// name contains); sorted, a key is followed directly by its equals and then
// by the keys of the paths below it, so neighbours are all we compare.
func (t *treeBuilder) checkNames() error {
	if t.checked {
		return nil
	}
	t.checked = true
	p := t.prefix()
	type key struct {
		k    string
		name string
		dir  bool
	}
	keys := make([]key, 0, len(t.files)+len(t.dirs))
	fold := newFolder()
	for _, f := range t.files {
		keys = append(keys, key{fold.key(f.name[len(p):]), f.name, false})
	}
	for _, d := range t.dirs {
		if rest, ok := strings.CutPrefix(d+"/", p); ok && rest != "" {
			keys = append(keys, key{fold.key(strings.TrimSuffix(rest, "/")), d + "/", true})
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.k, b.k) })
	for i := 0; i+1 < len(keys); i++ {
		a, b := keys[i], keys[i+1]
		switch {
		case a.k == b.k && a.dir && b.dir:
		case a.k == b.k && (a.dir || b.dir):
			return entryError(a.name, ErrArchivePath, "file and directory %s share a name", quoteEntry(b.name))
		case a.k == b.k && a.name == b.name:
			return entryError(a.name, ErrArchivePath, "duplicate name")
		case a.k == b.k:
			return entryError(b.name, ErrArchivePath, "name differs from %s only in case or Unicode normalization", quoteEntry(a.name))
		case !a.dir && strings.HasPrefix(b.k, a.k+"\x00"):
			return entryError(a.name, ErrArchivePath, "file is also a directory of %s", quoteEntry(b.name))
		}
	}
	return nil
}

// folder computes comparison keys. Unicode names take the full case
// folding of x/text/cases between canonical decomposition and composition,
// as Unicode's canonical caseless match does: "Straße" and "STRASSE", "é"
// composed and decomposed, "K" and the Kelvin sign all collide. This is
// stricter than NTFS, which folds case but not normalization, and than some
// APFS rules; a name refused needlessly costs a rename, a collision missed
// could swap one file for another.
type folder struct{ caser cases.Caser }

func newFolder() *folder { return &folder{caser: cases.Fold()} }

func (f *folder) key(name string) string {
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	var k string
	if ascii {
		k = strings.ToLower(name)
	} else {
		k = norm.NFC.String(f.caser.String(norm.NFD.String(name)))
	}
	return strings.ReplaceAll(k, "/", "\x00")
}

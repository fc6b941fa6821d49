package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"time"

	"github.com/sigilproxy/sigil/policy"
)

// ErrNotFound means the upstream does not have the document or archive.
// Ecosystem fronts answer it with a fast 404.
var ErrNotFound = errors.New("not found upstream")

// VersionFacts is what registry metadata says about one version, as an
// ecosystem front extracted it. The checker compares it with the logged
// statement of that version.
type VersionFacts struct {
	Ecosystem string // release.Composer or release.NPM
	// Metadata is what the policy decides on, in its own type from the
	// front to the decision: the package as in statements (Composer
	// lowercased, npm as published), the registry's version string exactly,
	// the manifest digest of the metadata (release.MetadataManifestDigest),
	// its references, npm's dist.integrity and the front's check of the
	// registry signature. The Verifier sets Now and NoDist.
	policy.Metadata
	// ArchiveURL is the upstream URL of the archive, learned from metadata.
	// It is the only URL the checker ever fetches for this version.
	ArchiveURL string
}

// VersionVerdict is a policy verdict plus what the front needs to rewrite
// the version's metadata.
type VersionVerdict struct {
	policy.Verdict
	// KeepSource is true only where policy keeps sources for the package
	// (a rule's source = "keep"); otherwise the front serves no source,
	// because Composer falls back to the source when a dist download
	// fails, and fetches it from wherever it points.
	KeepSource bool
}

// Archive is a verified archive ready to serve from the cache.
type Archive struct {
	Body    io.ReadSeeker // streams from the cache; Close when done
	Closer  io.Closer
	Size    int64
	SHA256  [32]byte
	ModTime time.Time // when sigil first verified these bytes
	Verdict policy.Verdict
}

// Checker decides versions and archives. Ecosystem fronts depend on this
// interface; *Verifier implements it.
type Checker interface {
	// Versions returns one verdict per element of facts, in the same order.
	// It never fails as a whole: a log that cannot be reached or does not
	// verify turns into Block (enforce) or Warn (warn) verdicts whose
	// reasons say so. facts may be shared with other requests: Versions
	// does not change it.
	Versions(ctx context.Context, ecosystem, pkg string, facts []VersionFacts) []VersionVerdict
	// Archive returns the verified archive for one version, downloading,
	// hashing and verifying it first unless the cache has it. Concurrent
	// calls for the same archive share one download. A blocked archive is
	// returned as an error of type *BlockedError; ErrNotFound when the
	// upstream has no such archive.
	Archive(ctx context.Context, facts VersionFacts) (*Archive, error)
}

// StampedChecker is a Checker whose metadata verdicts a front may keep:
// with each set of verdicts it gives a Stamp of what they were made from
// besides the facts, and it tells whether verdicts made under a stamp are
// still the ones it would give now. A front keeps the document it rendered
// from verdicts with their stamp (and the upstream document they were made
// from), so that a request for an unchanged document costs no verdicts:
// see front.Core.ServeKept. *Verifier is one.
type StampedChecker interface {
	Checker
	// VersionsStamped is Versions, and also returns the stamp of the
	// verdicts.
	VersionsStamped(ctx context.Context, ecosystem, pkg string, facts []VersionFacts) ([]VersionVerdict, Stamp)
	// Current reports whether Versions, asked now about pkg with the same
	// facts, would give the verdicts made under s: the package's evidence
	// is what they were made from (a new checkpoint that changes it,
	// a revocation, ends them at once) and none of them aged (a release
	// age). It may look the package up in the release log, as Versions
	// would.
	Current(ctx context.Context, ecosystem, pkg string, s Stamp) bool
}

// Stamp is what a StampedChecker made a set of verdicts from besides the
// facts. The zero Stamp is never current.
type Stamp struct {
	ev    *policy.Evidence // nil: the verdicts cannot be kept
	until time.Time        // zero: they do not age
}

// BlockedError is the refusal of an archive in enforce mode.
type BlockedError struct {
	Facts   VersionFacts
	Verdict policy.Verdict
}

// Error is the verdict's reasons, which already name the package and
// version.
func (e *BlockedError) Error() string {
	if len(e.Verdict.Reasons) == 0 {
		return e.Facts.Package + "@" + e.Facts.Version + ": blocked"
	}
	return e.Verdict.Reason()
}

// Document is an upstream metadata document. Body may be shared by every
// caller that asked for the same document: nobody changes it.
type Document struct {
	// Body is nil in a document answered by DocumentLazy until Load
	// reads it.
	Body []byte
	// Sum is the SHA-256 of Body, computed once by the Upstream; zero
	// when the Upstream did not (see Digest).
	Sum          [32]byte
	ETag         string
	LastModified string
	// Stale is true when the upstream could not be reached and the body is
	// the last copy sigil fetched.
	Stale bool

	// load reads Body, for a document answered without it.
	load func(ctx context.Context) (*Document, error)
}

// Load reads the Body of a document DocumentLazy answered without it, and
// does nothing otherwise. When the Upstream no longer has those bytes, it
// fetches the document again, and d becomes the new one (its Digest
// too).
func (d *Document) Load(ctx context.Context) error {
	if d.load == nil {
		return nil
	}
	got, err := d.load(ctx)
	if err != nil {
		return err
	}
	if got.Sum != d.Sum {
		*d = *got
	}
	d.Body, d.load = got.Body, nil
	return nil
}

// LazyUpstream is an Upstream that can answer without reading the body of
// a large document it keeps in a file: DocumentLazy is Document, but the
// Body may be nil until Document.Load. A front that may need only the
// digest (to serve a kept rendered document) asks this way.
type LazyUpstream interface {
	Upstream
	DocumentLazy(ctx context.Context, url string) (*Document, error)
}

// DocumentLazy asks up for url lazily when it can (LazyUpstream), and
// with Document otherwise.
func DocumentLazy(ctx context.Context, up Upstream, url string) (*Document, error) {
	if l, ok := up.(LazyUpstream); ok {
		return l.DocumentLazy(ctx, url)
	}
	return up.Document(ctx, url)
}

// Digest returns the SHA-256 of Body: Sum, or computed when Sum is not
// set.
func (d *Document) Digest() [32]byte {
	if d.Sum == ([32]byte{}) {
		return sha256.Sum256(d.Body)
	}
	return d.Sum
}

// Upstream fetches metadata documents through the cache: it uses the
// stored copy while it is fresh, revalidates it with the upstream's
// validators, and falls back to it when the upstream is down. A 404
// upstream is ErrNotFound.
type Upstream interface {
	Document(ctx context.Context, url string) (*Document, error)
}

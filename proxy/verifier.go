package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// DefaultMaxArchiveSize bounds an archive download when
// Limits.MaxArchiveSize is zero. The largest packages on npm and Packagist
// are some hundreds of megabytes; 1 GiB leaves room and bounds the disk a
// download can take.
const DefaultMaxArchiveSize = 1 << 30

// Limits bound what the Verifier reads. Zero fields take their defaults.
type Limits struct {
	// MaxArchiveSize bounds the bytes of one archive download. Default:
	// DefaultMaxArchiveSize.
	MaxArchiveSize int64
	// Archive bounds what hashing an archive reads and keeps (entries,
	// uncompressed size). Default: release.DefaultLimits.
	Archive release.Limits
}

// VerifierConfig configures a Verifier. Log and Cache are required.
type VerifierConfig struct {
	// Log looks packages up in the release log; *tlog.Client is one.
	Log Log
	// Policy is the trust configuration. Default (nil): the zero
	// policy.Config (enforce, unsigned allowed, break-glass allowed).
	Policy *policy.Config
	// Cache keeps verified archives, their references and first-seen pins.
	Cache Cache
	// Client downloads archives. Default: UpstreamClient(nil).
	Client *http.Client
	// Limits bound downloads and archive hashing.
	Limits Limits
	// TempDir is where downloads are staged before they are verified; a
	// private directory is made inside it. Default: os.TempDir().
	TempDir string
	// EvidenceTTL is how long the evaluated log evidence of a package is
	// reused, so that a burst of requests for one package costs one log
	// lookup. Evidence is dropped sooner when any lookup proves a newer
	// checkpoint. Default: DefaultEvidenceTTL.
	EvidenceTTL time.Duration
	// Logger receives one line per package when what sigil decided about
	// it changes, and every verdict at Debug level; RunSummary writes its
	// summaries there. Default: discarded.
	Logger *slog.Logger
	// Now is the clock of release ages. Default: time.Now.
	Now func() time.Time
	// Metrics counts verdicts, log lookups and archive downloads.
	// Default (nil): nothing is counted.
	Metrics *Metrics
}

// Verifier is the Checker of every ecosystem: it decides versions from the
// release log's evidence and serves archives only once verified (see the
// package doc). It is safe for concurrent use.
type Verifier struct {
	log     Log
	policy  *policy.Config
	cache   Cache
	client  *http.Client
	limits  Limits
	tmp     string
	logger  *slog.Logger
	vlog    *verdictLog
	metrics *Metrics
	now     func() time.Time

	evidence evidenceCache
	// evaluate interprets a lookup: evaluateLookup, replaced in tests.
	evaluate  func(*tlog.Lookup) *policy.Evidence
	downloads downloads
	// facts remembers what the bytes of cached blobs measured, so that
	// serving a cached archive does not hash it again. Blobs never change,
	// so entries never go stale.
	facts *lru.Cache[[32]byte, policy.ArchiveFacts]
}

var _ StampedChecker = (*Verifier)(nil)

// factsEntries bounds the memory of Verifier.facts: some 100 bytes each.
const factsEntries = 16384

// NewVerifier returns a Verifier. It creates its private staging directory
// and does no other I/O. Close removes that directory.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Log == nil || cfg.Cache == nil {
		return nil, errors.New("proxy: VerifierConfig.Log and VerifierConfig.Cache are required")
	}
	v := &Verifier{
		log:     cfg.Log,
		policy:  cfg.Policy,
		cache:   cfg.Cache,
		client:  cfg.Client,
		limits:  cfg.Limits,
		logger:  cfg.Logger,
		metrics: cfg.Metrics,
		now:     cfg.Now,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.policy == nil {
		v.policy = &policy.Config{}
	}
	if err := v.policy.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: policy: %w", err)
	}
	if v.client == nil {
		v.client = UpstreamClient(nil)
	}
	if v.limits.MaxArchiveSize <= 0 {
		v.limits.MaxArchiveSize = DefaultMaxArchiveSize
	}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	v.vlog = newVerdictLog(v.logger)
	ttl := cfg.EvidenceTTL
	if ttl <= 0 {
		ttl = DefaultEvidenceTTL
	}
	v.evidence.init(ttl)
	v.evaluate = v.evaluateLookup
	v.facts, _ = lru.New[[32]byte, policy.ArchiveFacts](factsEntries)
	dir := cfg.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	tmp, err := os.MkdirTemp(dir, "sigil-downloads-")
	if err != nil {
		return nil, fmt.Errorf("proxy: staging directory: %w", err)
	}
	v.tmp = tmp
	return v, nil
}

// Close removes the staging directory. Archives being served from it stay
// readable until closed (on systems that allow removing open files).
func (v *Verifier) Close() error {
	return os.RemoveAll(v.tmp)
}

// Versions decides every version of one package from one log lookup (see
// Checker).
func (v *Verifier) Versions(ctx context.Context, eco, pkg string, facts []VersionFacts) []VersionVerdict {
	out, _ := v.VersionsStamped(ctx, eco, pkg, facts)
	return out
}

// VersionsStamped is Versions, with the stamp of its verdicts (see
// StampedChecker): the evidence they were made from, and when the first
// of them ages.
func (v *Verifier) VersionsStamped(ctx context.Context, eco, pkg string, facts []VersionFacts) ([]VersionVerdict, Stamp) {
	ev := v.lookup(ctx, eco, pkg)
	ageing := v.policy.For(pkg).MinReleaseAge > 0
	if ageing {
		// A version without an observation has no age: ask the log to
		// observe the ones it has not, so that they can age.
		ev = v.observeMissing(ctx, eco, pkg, ev, facts)
	}
	now := v.now()
	st := Stamp{ev: ev}
	if ev.Err != nil {
		// Not kept: the next request asks the log again.
		st.ev = nil
	}
	age := func(t time.Time) {
		if !t.IsZero() && (st.until.IsZero() || t.Before(st.until)) {
			st.until = t
		}
	}
	out := make([]VersionVerdict, len(facts))
	for i := range facts {
		f := &facts[i]
		m := metadataOf(f, now)
		var vd policy.Verdict
		if f.Ecosystem != eco || f.Package != pkg {
			vd = v.contractViolation(f, eco, pkg)
		} else {
			vd = v.policy.Version(ev, m)
			age(v.policy.VersionUntil(ev, m))
			if _, seen := ev.Observations[f.Version]; ageing && !seen {
				// observeMissing asks the log about it again after
				// the evidence TTL.
				age(now.Add(v.evidence.ttl))
			}
		}
		// Composer falls back to a version's source when its archive
		// fails: policy keeps sources only where a rule says so.
		out[i] = VersionVerdict{Verdict: vd, KeepSource: v.policy.For(f.Package).KeepSource}
		v.logVerdict(ctx, "version", f, vd)
		v.metrics.verdict("version", ev, vd)
	}
	v.vlog.versions(ctx, eco, pkg, facts, out)
	return out, st
}

// Current reports whether the verdicts made under s are still the ones
// Versions would give (see StampedChecker): the package's evidence, looked
// up as Versions looks it up, is the one they were made from, and none of
// them has aged.
func (v *Verifier) Current(ctx context.Context, eco, pkg string, s Stamp) bool {
	if s.ev == nil || !s.until.IsZero() && !v.now().Before(s.until) {
		return false
	}
	return v.lookup(ctx, eco, pkg) == s.ev
}

// contractViolation fails closed for facts of another package than the one
// looked up: a bug of the front, which must not borrow another package's
// evidence.
func (v *Verifier) contractViolation(f *VersionFacts, eco, pkg string) policy.Verdict {
	s := v.policy.For(f.Package)
	vd := policy.Verdict{
		Action:  policy.Block,
		Failed:  true,
		Reasons: []string{fmt.Sprintf("%s@%s: sigil checked the facts of %s %s against the evidence of %s %s; refusing", f.Package, f.Version, f.Ecosystem, f.Package, eco, pkg)},
	}
	if s.Mode == policy.ModeWarn {
		vd.Action = policy.Warn
	}
	return vd
}

// Archive returns the verified archive of one version (see Checker).
//
// A cached archive is decided again from the current evidence before it is
// served, so a new revocation changes what is served. Bytes stored for the
// version under another archive URL (an upstream that changed) are served
// when their verdict passes every check (moved.go). Otherwise the archive
// is downloaded (once for all concurrent requests), measured, decided, and
// stored only when verification did not fail; then it is served from the
// cache. In warn mode, bytes whose verification failed are served from the
// staging file and never stored: a reference is made only for verified
// bytes, since the first bytes a reference names are served for ever after,
// and an enforce run must never inherit bytes that failed.
func (v *Verifier) Archive(ctx context.Context, f VersionFacts) (*Archive, error) {
	a, ev, err := v.archive(ctx, &f)
	var blocked *BlockedError
	var vd policy.Verdict
	switch {
	case errors.As(err, &blocked):
		vd = blocked.Verdict
	case err == nil:
		vd = a.Verdict
	default:
		return a, err
	}
	v.logVerdict(ctx, "archive", &f, vd)
	v.vlog.archive(ctx, &f, vd)
	v.metrics.verdict("archive", ev, vd)
	return a, err
}

// archive is Archive, which also returns the evidence it decided on.
func (v *Verifier) archive(ctx context.Context, f *VersionFacts) (*Archive, *policy.Evidence, error) {
	if f.ArchiveURL == "" {
		return nil, nil, fmt.Errorf("archive of %s %s: the metadata names none: %w", f.Package, f.Version, ErrNotFound)
	}
	ev := v.lookup(ctx, f.Ecosystem, f.Package)
	// The log observes the version before its bytes are checked (as the
	// Go checksum database does for a module version it has not seen), so
	// that the first proxy to fetch it is checked against the log's view
	// too, not only against its own first sight.
	ev = v.observeMissing(ctx, f.Ecosystem, f.Package, ev, []VersionFacts{*f})
	a, err := v.archiveWith(ctx, f, ev)
	return a, ev, err
}

func (v *Verifier) archiveWith(ctx context.Context, f *VersionFacts, ev *policy.Evidence) (*Archive, error) {
	// A dev version's archive is the commit's: a branch may keep its URL
	// while it moves, and the bytes stored for one commit must not be
	// served for the next.
	version := f.Version
	if k := pinKey(f); strings.Contains(k, "#") {
		version = k
	}
	key := cache.ArchiveKey{Ecosystem: f.Ecosystem, Package: f.Package, Version: version, Archive: f.ArchiveURL}
	m := metadataOf(f, v.now())
	if a, err := v.cached(ctx, key, ev, f, m); a != nil || err != nil {
		return a, err
	}
	// What the metadata alone blocks, no bytes can save: do not fetch it.
	if vd := v.policy.Version(ev, m); vd.Blocked() {
		return nil, &BlockedError{Facts: *f, Verdict: vd}
	}
	// The URL may be new and the bytes not (moved.go).
	if a, err := v.moved(ctx, key, ev, f, m); a != nil || err != nil {
		return a, err
	}

	url := f.ArchiveURL
	d := v.downloads.join(url, func(ctx context.Context) (_ *fetched, err error) {
		defer v.recovered("archive "+url, &err)
		return v.download(ctx, f.Ecosystem, url)
	})
	select {
	case <-d.done:
	case <-ctx.Done():
		v.downloads.release(url, d)
		return nil, ctx.Err()
	}
	if d.err != nil {
		v.downloads.release(url, d)
		return nil, d.err
	}
	a, keep, stored, err := v.admit(ctx, key, ev, f, m, d.res)
	if keep {
		a.Closer = &onceCloser{fn: func() { v.downloads.release(url, d) }}
	} else {
		v.downloads.release(url, d)
	}
	if err != nil || a != nil {
		return a, err
	}
	if stored.sum == d.res.sha256 {
		// Stored: serve these bytes from the cache with the verdict
		// just made on them.
		a, err = v.openArchive(ctx, key, stored.sum, stored.verdict)
		if err == nil && a == nil {
			err = fmt.Errorf("archive %s: stored but not found in the cache", key)
		}
		return a, err
	}
	// The reference already named an earlier verification's bytes, which
	// the first bytes a reference names stay: decide and serve those.
	a, err = v.cached(ctx, key, ev, f, m)
	if err == nil && a == nil {
		err = fmt.Errorf("archive %s: stored but not found in the cache", key)
	}
	return a, err
}

// openArchive returns the stored blob sum as the archive of key, with the
// verdict vd made on its bytes, or nil and no error when it was evicted.
func (v *Verifier) openArchive(ctx context.Context, key cache.ArchiveKey, sum [32]byte, vd policy.Verdict) (*Archive, error) {
	blob, err := v.cache.OpenBlob(ctx, sum)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", key, err)
	}
	return &Archive{Body: blob, Closer: blob, Size: blob.Size(), SHA256: sum, ModTime: blob.ModTime(), Verdict: vd}, nil
}

// cached decides and returns the archive the cache holds for key, or nil
// and no error when it holds none.
func (v *Verifier) cached(ctx context.Context, key cache.ArchiveKey, ev *policy.Evidence, f *VersionFacts, m policy.Metadata) (*Archive, error) {
	sum, ok, err := v.cache.ArchiveRef(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", key, err)
	}
	if !ok {
		return nil, nil
	}
	blob, err := v.cache.OpenBlob(ctx, sum)
	if errors.Is(err, cache.ErrNotFound) {
		// Evicted (with its reference) since the reference was read: a
		// miss, fetched and verified again.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", key, err)
	}
	af, err := v.blobFacts(f.Ecosystem, sum, blob)
	if err != nil {
		blob.Close()
		return nil, fmt.Errorf("archive %s: %w", key, err)
	}
	vd, err := v.decideArchive(ctx, ev, f, m, af)
	if err != nil || vd.Blocked() {
		blob.Close()
		if err != nil {
			return nil, err
		}
		return nil, &BlockedError{Facts: *f, Verdict: vd}
	}
	return &Archive{Body: blob, Closer: blob, Size: blob.Size(), SHA256: sum, ModTime: blob.ModTime(), Verdict: vd}, nil
}

// storedRef is what admit stored: the blob the archive's reference names
// (the downloaded bytes, or an earlier verification's when the reference
// existed) and the verdict made on the downloaded bytes.
type storedRef struct {
	sum     [32]byte
	verdict policy.Verdict
}

// admit decides a downloaded archive. Verified bytes are stored and nil is
// returned with what the store holds, for the caller to serve from the
// cache. Bytes that failed
// are refused (enforce) or returned to be served from the staging file
// (warn), with keep set: the caller must keep the download until the
// Archive is closed.
func (v *Verifier) admit(ctx context.Context, key cache.ArchiveKey, ev *policy.Evidence, f *VersionFacts, m policy.Metadata, d *fetched) (a *Archive, keep bool, stored storedRef, err error) {
	vd, err := v.decideArchive(ctx, ev, f, m, d.facts)
	switch {
	case err != nil:
		return nil, false, stored, err
	case vd.Blocked():
		return nil, false, stored, &BlockedError{Facts: *f, Verdict: vd}
	case vd.Failed:
		return &Archive{Body: io.NewSectionReader(d.file, 0, d.size), Size: d.size, SHA256: d.sha256, ModTime: v.now(), Verdict: vd}, true, stored, nil
	}
	if err := v.cache.PutBlob(ctx, d.sha256, io.NewSectionReader(d.file, 0, d.size)); err != nil {
		return nil, false, stored, fmt.Errorf("archive %s: %w", key, err)
	}
	v.facts.Add(d.sha256, d.facts)
	sum, err := v.cache.PutArchiveRefIfAbsent(ctx, key, d.sha256)
	if err != nil {
		return nil, false, stored, fmt.Errorf("archive %s: %w", key, err)
	}
	return nil, false, storedRef{sum: sum, verdict: vd}, nil
}

// decideArchive decides the archive whose bytes measured af. For an
// unsigned package the first-seen pin of the version (tree and the
// archive's own manifest) takes part, and is made from these bytes only if
// they pass every other check: bytes refused for another reason must not
// become the reference the right bytes are held to. Policy runs once, and a
// second time only when another request pinned other bytes in between.
func (v *Verifier) decideArchive(ctx context.Context, ev *policy.Evidence, f *VersionFacts, m policy.Metadata, pa policy.ArchiveFacts) (policy.Verdict, error) {
	if !ev.Unsigned() || pa.Tree == "" {
		return v.policy.Archive(ev, m, pa), nil
	}
	key := pinKey(f)
	pinned, ok, err := v.pinned(ctx, f, key)
	if err != nil {
		return policy.Verdict{}, err
	}
	if ok {
		pa.Pinned, pa.PinnedManifest = pinned.tree, pinned.manifest
		return v.policy.Archive(ev, m, pa), nil
	}
	vd := v.policy.Archive(ev, m, pa)
	if vd.Failed {
		return vd, nil
	}
	got, _, err := v.cache.PinTree(ctx, f.Ecosystem, f.Package, key, pinValue{pa.Tree, pa.Manifest}.String())
	if err != nil {
		return policy.Verdict{}, fmt.Errorf("archive of %s %s: %w", f.Package, f.Version, err)
	}
	if p := parsePin(got); p != (pinValue{pa.Tree, pa.Manifest}) {
		pa.Pinned, pa.PinnedManifest = p.tree, p.manifest
		vd = v.policy.Archive(ev, m, pa)
	}
	return vd, nil
}

// blobFacts measures a cached blob, or recalls what it measured.
func (v *Verifier) blobFacts(eco string, sum [32]byte, blob Blob) (policy.ArchiveFacts, error) {
	af, ok := v.facts.Get(sum)
	if ok && (eco != release.NPM || af.SHA512 != "") {
		return af, nil
	}
	if !ok {
		measureTree(&af, blob, blob.Size(), eco, v.limits)
	}
	if eco == release.NPM {
		h := release.NewIntegrityHash()
		if _, err := io.Copy(h, io.NewSectionReader(blob, 0, blob.Size())); err != nil {
			return policy.ArchiveFacts{}, fmt.Errorf("reading cached blob: %w", err)
		}
		af.SHA512 = release.FormatIntegrity(h.Sum(nil))
	}
	v.facts.Add(sum, af)
	return af, nil
}

func metadataOf(f *VersionFacts, now time.Time) policy.Metadata {
	m := f.Metadata
	m.Now = now
	m.NoDist = f.ArchiveURL == ""
	return m
}

// logVerdict writes one verdict at Debug level (--debug): the lines a
// normal run writes are verdictLog's, one per package whose decision
// changed.
func (v *Verifier) logVerdict(ctx context.Context, what string, f *VersionFacts, vd policy.Verdict) {
	const level = slog.LevelDebug
	if !v.logger.Enabled(ctx, level) {
		return
	}
	v.logger.LogAttrs(ctx, level, "verdict",
		slog.String("what", what),
		slog.String("ecosystem", f.Ecosystem),
		slog.String("package", f.Package),
		slog.String("version", f.Version),
		slog.String("action", vd.Action.String()),
		slog.Bool("signed", vd.Signed),
		slog.String("reason", vd.Reason()))
}

// recovered turns a panic into an error, for the parsers of untrusted input
// (archives, log entries) that run in goroutines of their own: net/http
// recovers a handler's panic, but a panic there would end the process, and
// one bad archive must fail only its requests. Use: defer v.recovered(...).
func (v *Verifier) recovered(what string, err *error) {
	if p := recover(); p != nil {
		v.logger.Error("proxy: internal error", "while", what, "panic", p, "stack", string(debug.Stack()))
		*err = fmt.Errorf("%s: internal error (the log has details)", what)
	}
}

// onceCloser is an io.Closer that runs fn on the first Close only.
type onceCloser struct {
	once sync.Once
	fn   func()
}

func (c *onceCloser) Close() error {
	c.once.Do(c.fn)
	return nil
}

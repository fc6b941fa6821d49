package proxy

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// Log is the release log as the Verifier uses it; *tlog.Client is one.
type Log interface {
	// Lookup returns every statement of the package and every key event of
	// its namespaces, each proven to be in the tree of a verified
	// checkpoint (see package tlog). It is safe for concurrent use. An
	// error means nothing can be said about the package: the log could not
	// be reached, did not verify, or proved misbehaviour.
	Lookup(ctx context.Context, eco, pkg string) (*tlog.Lookup, error)
}

// NoLog is the Log of a sigil run without a release log (serve without
// --log): it proves that nothing is logged, so no namespace has keys and
// the unsigned policy decides (vendor keys pinned with --vendor-key still
// require statements, which then cannot be found: those packages are
// blocked). /-/healthz reports its log check as "none".
type NoLog struct{}

// Lookup returns an empty lookup of pkg: no statements, no key events.
func (NoLog) Lookup(_ context.Context, eco, pkg string) (*tlog.Lookup, error) {
	return &tlog.Lookup{Ecosystem: eco, Package: pkg}, nil
}

// ObservingLog is a Log that a lookup can ask to observe versions first
// (see tlog/server's observations); *tlog.Client is one. A Log that is not
// one is only ever looked up.
type ObservingLog interface {
	Log
	// LookupVersions is Lookup, after the log observed each of versions
	// that its registry lists and it had not observed. An error means as
	// much as Lookup's, or that the log could not observe now (429).
	LookupVersions(ctx context.Context, eco, pkg string, versions []string) (*tlog.Lookup, error)
}

// maxObserve bounds the versions one lookup asks the log to observe (the
// log's own bound, tlog/server.MaxLookupVersions).
const maxObserve = 256

// DefaultEvidenceTTL is how long evaluated evidence is reused when
// VerifierConfig.EvidenceTTL is zero: long enough to cover one install's
// burst of requests for a package (its metadata, then its archive), short
// enough that a revocation reaches every install that starts after it.
const DefaultEvidenceTTL = 10 * time.Second

// evidenceEntries bounds the evidence cache. An entry holds a package's
// evaluated log evidence as tlog returns it (under 1 KB per version: each
// valid statement with its note).
const evidenceEntries = 4096

// evidenceCache shares one log lookup per package between concurrent
// requests and keeps the evaluated result briefly. An entry is dropped when
// it is older than ttl or when any lookup proved a checkpoint newer than
// the one the entry was evaluated at: a new checkpoint may carry a
// revocation, and a burst must not outlive it.
type evidenceCache struct {
	ttl     time.Duration
	entries *lru.Cache[string, evidenceEntry]
	// asked remembers when the log was last asked to observe a version.
	asked *lru.Cache[string, time.Time]
	group singleflight.Group
	// size is the size of the newest checkpoint any lookup proved.
	size atomic.Uint64
	// reach is what the last lookups did, for the health check.
	reach reach
}

type evidenceEntry struct {
	ev   *policy.Evidence
	size uint64
	at   time.Time
}

func (c *evidenceCache) init(ttl time.Duration) {
	c.ttl = ttl
	c.entries, _ = lru.New[string, evidenceEntry](evidenceEntries)
	c.asked, _ = lru.New[string, time.Time](evidenceEntries)
}

// seen records that a checkpoint of size n was proven.
func (c *evidenceCache) seen(n uint64) {
	for {
		old := c.size.Load()
		if n <= old || c.size.CompareAndSwap(old, n) {
			return
		}
	}
}

// lookup returns the evaluated evidence for a package. It never fails: a
// failed lookup is evidence whose Err says why, which the policy turns into
// a fail-closed verdict. Failures are not cached, so the next request tries
// again.
func (v *Verifier) lookup(ctx context.Context, eco, pkg string) *policy.Evidence {
	c := &v.evidence
	key := eco + "\x00" + pkg
	if e, ok := c.entries.Get(key); ok && v.now().Sub(e.at) < c.ttl && e.size >= c.size.Load() {
		v.metrics.lookup("reused")
		return e.ev
	}
	ch := c.group.DoChan(key, func() (_ any, err error) {
		defer v.recovered("lookup of "+eco+" "+pkg, &err)
		// Shared by every waiter, so not cancelled by the first one's
		// departure; the log client bounds its own requests.
		return v.lookupNow(context.WithoutCancel(ctx), eco, pkg), nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return &policy.Evidence{Err: r.Err}
		}
		return r.Val.(*policy.Evidence)
	case <-ctx.Done():
		return &policy.Evidence{Err: ctx.Err()}
	}
}

func (v *Verifier) lookupNow(ctx context.Context, eco, pkg string) *policy.Evidence {
	c := &v.evidence
	if err := release.ValidatePackage(eco, pkg); err != nil {
		return &policy.Evidence{Err: err}
	}
	lk, err := v.log.Lookup(ctx, eco, pkg)
	if err != nil {
		c.reach.fail(v.now(), logFailure(err))
		v.metrics.lookup("error")
		return &policy.Evidence{Err: err}
	}
	c.reach.ok(v.now())
	v.metrics.lookup("ok")
	return v.remember(eco, pkg, lk)
}

// remember evaluates a lookup and keeps the result for the package.
func (v *Verifier) remember(eco, pkg string, lk *tlog.Lookup) *policy.Evidence {
	c := &v.evidence
	ev := v.evaluate(lk)
	var size uint64
	if lk.Checkpoint != nil {
		size = lk.Checkpoint.Size
	}
	c.seen(size)
	key := eco + "\x00" + pkg
	if old, ok := c.entries.Peek(key); ok && sameEvidence(old.ev, ev) {
		// The same evidence as before (the log grew, but not for this
		// package): the same value, so that what was made from it
		// (verdicts kept with a Stamp) stays current.
		ev = old.ev
	}
	c.entries.Add(key, evidenceEntry{ev: ev, size: size, at: v.now()})
	return ev
}

// sameEvidence reports whether a and b say the same about a package, so
// that every verdict made from one is the verdict made from the other.
func sameEvidence(a, b *policy.Evidence) bool {
	return a == b || a.Err == nil && b.Err == nil &&
		reflect.DeepEqual(a.Trust, b.Trust) && reflect.DeepEqual(a.Observations, b.Observations)
}

// logState reports the newest checkpoint size proven (0 if none yet), for
// the health check.
func (c *evidenceCache) logSize() uint64 { return c.size.Load() }

// observeMissing asks the log to observe those of facts' versions that ev
// has no observation of, and returns the evidence of that lookup. When the
// log is not an ObservingLog, all are observed already, or the log cannot
// observe now, it returns ev: an observation is evidence in addition to the
// statements and the pins, and its absence is judged by the policy.
func (v *Verifier) observeMissing(ctx context.Context, eco, pkg string, ev *policy.Evidence, facts []VersionFacts) *policy.Evidence {
	ol, ok := v.log.(ObservingLog)
	if !ok || ev.Err != nil {
		return ev
	}
	// A version asked about within the evidence TTL is not asked about
	// again: a log that does not observe its registry, or could not, would
	// otherwise cost a lookup on every archive request.
	now := v.now()
	var missing []string
	for i := range facts {
		if _, seen := ev.Observations[facts[i].Version]; seen || len(missing) == maxObserve {
			continue
		}
		k := eco + "\x00" + pkg + "\x00" + facts[i].Version
		if at, ok := v.evidence.asked.Get(k); ok && now.Sub(at) < v.evidence.ttl {
			continue
		}
		v.evidence.asked.Add(k, now)
		missing = append(missing, facts[i].Version)
	}
	if len(missing) == 0 {
		return ev
	}
	key := eco + "\x00" + pkg + "\x00" + strings.Join(missing, "\x00")
	ch := v.evidence.group.DoChan(key, func() (_ any, err error) {
		defer v.recovered("observation of "+eco+" "+pkg, &err)
		lk, err := ol.LookupVersions(context.WithoutCancel(ctx), eco, pkg, missing)
		if err != nil {
			return nil, err
		}
		return v.remember(eco, pkg, lk), nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			if errors.Is(r.Err, tlog.ErrSecurity) {
				return &policy.Evidence{Err: r.Err}
			}
			v.logger.Warn("the release log did not observe versions; they are checked without its observation",
				"ecosystem", eco, "package", pkg, "versions", len(missing), "err", r.Err)
			return ev
		}
		return r.Val.(*policy.Evidence)
	case <-ctx.Done():
		return ev
	}
}

package proxy

import (
	"context"
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

// DefaultEvidenceTTL is how long evaluated evidence is reused when
// VerifierConfig.EvidenceTTL is zero: long enough to cover one install's
// burst of requests for a package (its metadata, then its archive), short
// enough that a revocation reaches every install that starts after it.
const DefaultEvidenceTTL = 10 * time.Second

// evidenceEntries bounds the evidence cache. An entry holds a package's
// statements (a few hundred bytes per version).
const evidenceEntries = 4096

// evidenceCache shares one log lookup per package between concurrent
// requests and keeps the evaluated result briefly. An entry is dropped when
// it is older than ttl or when any lookup proved a checkpoint newer than
// the one the entry was evaluated at: a new checkpoint may carry a
// revocation, and a burst must not outlive it.
type evidenceCache struct {
	ttl     time.Duration
	entries *lru.Cache[string, evidenceEntry]
	group   singleflight.Group
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
			return &policy.Evidence{Err: r.Err, Namespaces: release.Namespaces(eco, pkg)}
		}
		return r.Val.(*policy.Evidence)
	case <-ctx.Done():
		return &policy.Evidence{Err: ctx.Err(), Namespaces: release.Namespaces(eco, pkg)}
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
		return &policy.Evidence{Err: err, Namespaces: release.Namespaces(eco, pkg)}
	}
	c.reach.ok(v.now())
	ev := v.evaluate(lk)
	var size uint64
	if lk.Checkpoint != nil {
		size = lk.Checkpoint.Size
	}
	c.seen(size)
	c.entries.Add(eco+"\x00"+pkg, evidenceEntry{ev: ev, size: size, at: v.now()})
	return ev
}

// logState reports the newest checkpoint size proven (0 if none yet), for
// the health check.
func (c *evidenceCache) logSize() uint64 { return c.size.Load() }

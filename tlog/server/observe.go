package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/singleflight"

	"github.com/sigilproxy/sigil/release"
)

// Defaults of the observation limits in Config.
const (
	// DefaultObserveConcurrency is how many versions the log downloads and
	// hashes at once: each costs one archive download and its disk.
	DefaultObserveConcurrency = 4
	// DefaultObserveQueue bounds the observations running or waiting for a
	// slot; a lookup that would queue more is answered 429.
	DefaultObserveQueue = 64
	// MaxLookupVersions bounds the versions one lookup may ask about.
	MaxLookupVersions = 256
)

// Observer fetches versions from the registries the log observes. It is
// given package and version names only, never a URL: every URL it fetches
// comes from its own configuration and the registry's metadata.
type Observer interface {
	// Observes reports whether the log observes a registry of ecosystem
	// eco.
	Observes(eco string) bool
	// Prepare fetches pkg's metadata from the registry once and returns,
	// for each of versions that the registry lists with an archive, a
	// function that downloads that archive and measures it. Versions the
	// registry does not list are absent. The Observation a Measure returns
	// has every field but Observed set. Safe for concurrent use.
	Prepare(ctx context.Context, eco, pkg string, versions []string) (map[string]Measure, error)
}

// Measure downloads and hashes one version (see Observer).
type Measure func(ctx context.Context) (*release.Observation, error)

// observer is the log's side of observing: limits, sharing and appending.
type observer struct {
	src   Observer
	now   func() time.Time
	slots chan struct{} // one per running measurement
	queue chan struct{} // one per measurement running or waiting
	group singleflight.Group
}

func newObserver(cfg *Config) *observer {
	if cfg.Observer == nil {
		return nil
	}
	return &observer{
		src:   cfg.Observer,
		now:   cfg.Now,
		slots: make(chan struct{}, cfg.ObserveConcurrency),
		queue: make(chan struct{}, cfg.ObserveQueue),
	}
}

// observe makes sure every version in versions that the registry lists has
// an observation in the log, and returns once a published checkpoint
// covers each. A version already observed is never observed again.
func (s *Server) observe(ctx context.Context, eco, pkg string, versions []string) error {
	o := s.obs
	if o == nil || !o.src.Observes(eco) || len(versions) == 0 {
		return nil
	}
	if len(versions) > MaxLookupVersions {
		return refuse(http.StatusBadRequest, "a lookup may ask about at most %d versions, not %d", MaxLookupVersions, len(versions))
	}
	for _, v := range versions {
		if err := release.ValidateVersion(v); err != nil {
			return refuse(http.StatusBadRequest, "%v", err)
		}
	}
	missing, err := s.ix.unobserved(eco, pkg, versions)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	// Reserve the queue places first: a client that asks for more than
	// the log can take gets 429 at once, before any fetch.
	n := 0
	defer func() {
		for range n {
			<-o.queue
		}
	}()
	for range missing {
		select {
		case o.queue <- struct{}{}:
			n++
		default:
			return &RefusedError{Status: http.StatusTooManyRequests,
				Reason: fmt.Sprintf("the log is busy observing other versions (%d queued at most); retry later", cap(o.queue))}
		}
	}
	measures, err := o.src.Prepare(ctx, eco, pkg, missing)
	if err != nil {
		return refuse(http.StatusBadGateway, "observing %s %s: %v", eco, pkg, err)
	}
	var errs []error
	var last uint64
	logged := false
	for _, v := range missing {
		m, ok := measures[v]
		if !ok {
			continue // not listed by the registry: nothing to observe
		}
		idx, err := s.observeOne(ctx, eco, pkg, v, m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		last, logged = max(last, idx), true
	}
	if logged {
		if _, err := s.awaitPublished(ctx, last, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// observeOne observes one version once for every concurrent asker, and
// returns its index.
func (s *Server) observeOne(ctx context.Context, eco, pkg, version string, m Measure) (uint64, error) {
	o := s.obs
	key := string(observedKey(eco, pkg, version))
	ch := o.group.DoChan(key, func() (any, error) {
		// Shared by every asker: not cancelled by the first one leaving.
		ctx := context.WithoutCancel(ctx)
		if e, ok, err := s.ix.observation(eco, pkg, version); err != nil || ok {
			return e.idx, err
		}
		select {
		case o.slots <- struct{}{}:
		case <-ctx.Done():
			return uint64(0), ctx.Err()
		}
		obs, err := m(ctx)
		<-o.slots
		if err != nil {
			return uint64(0), refuse(http.StatusBadGateway, "observing %s %s version %s: %v", eco, pkg, version, err)
		}
		if obs.Ecosystem != eco || obs.Package != pkg || obs.Version != version {
			return uint64(0), fmt.Errorf("observer measured %s %s %s when asked for %s %s %s", obs.Ecosystem, obs.Package, obs.Version, eco, pkg, version)
		}
		obs.Observed = o.now().UTC().Truncate(time.Second)
		return s.appendObservation(ctx, obs)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return 0, r.Err
		}
		return r.Val.(uint64), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// appendObservation signs an observation with the log key and logs it,
// unless the version was observed in the meantime, and indexes it before
// it returns. The decision and the queueing happen under s.mu, like every
// admission, so one version gets one observation.
func (s *Server) appendObservation(ctx context.Context, obs *release.Observation) (uint64, error) {
	text, err := obs.Text()
	if err != nil {
		return 0, fmt.Errorf("observation: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, s.signer)
	if err != nil {
		return 0, fmt.Errorf("signing the observation: %w", err)
	}
	s.mu.Lock()
	if err := s.admissibleLocked(ctx); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	if e, ok, err := s.ix.observation(obs.Ecosystem, obs.Package, obs.Version); err != nil || ok {
		s.mu.Unlock()
		return e.idx, err
	}
	// Held until the entry is indexed: an observation is rare next to a
	// lookup, and holding the lock keeps "one per version" obvious.
	defer s.mu.Unlock()
	idx, err := s.appendLocked(ctx, msg, func(idx uint64) entryKeys {
		return observationKeys(idx, msg, obs.Ecosystem, obs.Package, obs.Version)
	})
	if err != nil {
		return 0, err
	}
	s.log.Info("version observed", "index", idx, "ecosystem", obs.Ecosystem, "package", obs.Package,
		"version", obs.Version, "tree", obs.Tree, "observed", obs.Observed.Format(release.ObservedTimeFormat))
	return idx, nil
}

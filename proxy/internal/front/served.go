package front

import (
	"context"
	"sync"
	"time"
)

// ServedStore remembers, per served document, a digest of what sigil served
// and since when, so that Last-Modified is sigil's own and moves when the
// served bytes change (a new upstream version, a changed verdict).
// *cache.Store implements it; MemServed is the in-memory default.
type ServedStore interface {
	// ServedState records that the document under key now has the given
	// digest and returns its Last-Modified: the time recorded with that
	// digest if it is unchanged, otherwise a new time, in whole seconds,
	// at least one second after the previous one (so that a client that
	// cached the old bytes at second t cannot get a 304 for new bytes
	// that came within the same second). Keys are at most 4096 bytes.
	// Safe for concurrent use.
	ServedState(ctx context.Context, key string, digest []byte) (time.Time, error)
}

// MemServed is ServedState's contract in memory: a front's default, which
// forgets across restarts (clients then fetch each document once more).
type MemServed struct {
	mu sync.Mutex
	m  map[string]memState
}

var _ ServedStore = (*MemServed)(nil)

type memState struct {
	digest string
	t      time.Time
}

// NewMemServed returns an empty MemServed.
func NewMemServed() *MemServed { return &MemServed{m: map[string]memState{}} }

// ServedState implements ServedStore.
func (s *MemServed) ServedState(ctx context.Context, key string, digest []byte) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[key]
	if ok && old.digest == string(digest) {
		return old.t, nil
	}
	t := time.Now().UTC().Truncate(time.Second)
	if ok && !t.After(old.t) {
		t = old.t.Add(time.Second)
	}
	s.m[key] = memState{digest: string(digest), t: t}
	return t, nil
}

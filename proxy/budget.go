package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultMetadataBudget is MetadataBudget's size when none is given: the
// metadata bytes that may be fetched and parsed at once. The memory a
// document takes while it is parsed, filtered and served is a small
// multiple of its size, so 64 MiB keeps a burst of huge documents in a few
// hundred megabytes, while ordinary documents (kilobytes to a few
// megabytes) never wait.
const DefaultMetadataBudget = 64 << 20

// DefaultBudgetWait is how long a request waits for room in the budget
// before it is answered 503.
const DefaultBudgetWait = 10 * time.Second

// ErrBusy is returned, wrapped, when the metadata budget had no room for a
// document within the wait: the client should retry (503, Retry-After).
var ErrBusy = errors.New("sigil is busy with other large metadata documents")

// RetryAfter is the Retry-After (seconds) of an answer to ErrBusy.
const RetryAfter = "5"

// MetadataBudget bounds the metadata bytes that are being fetched and
// parsed at once, across all requests: memory is bounded whatever the
// clients ask for. Bytes are charged while a document's body is read
// (HTTPUpstream) and for each request's own copy until its answer is
// written (Handler); past the budget, a charge waits up to the wait, then
// fails with ErrBusy. One charge is at most the whole budget, so a
// document larger than it still goes through, alone. A nil
// *MetadataBudget bounds nothing.
type MetadataBudget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration
}

// NewMetadataBudget returns a budget of size bytes (0: the default) whose
// charges wait at most wait (0: the default).
func NewMetadataBudget(size int64, wait time.Duration) *MetadataBudget {
	if size <= 0 {
		size = DefaultMetadataBudget
	}
	if wait <= 0 {
		wait = DefaultBudgetWait
	}
	return &MetadataBudget{sem: semaphore.NewWeighted(size), size: size, wait: wait}
}

// acquire takes n bytes (at most the whole budget) and returns what it
// took, to be released.
func (b *MetadataBudget) acquire(ctx context.Context, n int64) (int64, error) {
	if b == nil || n <= 0 {
		return 0, nil
	}
	n = min(n, b.size)
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("%w (%d MiB in use; waited %v)", ErrBusy, b.size>>20, b.wait)
		}
		return 0, err
	}
	return n, nil
}

func (b *MetadataBudget) release(n int64) {
	if b != nil && n > 0 {
		b.sem.Release(n)
	}
}

// lease is what one request holds of the budget until its answer is
// written.
type lease struct {
	b    *MetadataBudget
	mu   sync.Mutex
	held int64
}

type leaseKey struct{}

// Handler gives every request a lease on the budget, released when the
// request's answer is written. A request without one (no Handler in front)
// charges nothing for its own copies.
func (b *MetadataBudget) Handler(next http.Handler) http.Handler {
	if b == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := &lease{b: b}
		defer l.releaseAll()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), leaseKey{}, l)))
	})
}

// chargeRequest charges n bytes to the lease of the request ctx belongs to,
// if any, until its answer is written.
func chargeRequest(ctx context.Context, n int64) error {
	l, _ := ctx.Value(leaseKey{}).(*lease)
	if l == nil {
		return nil
	}
	got, err := l.b.acquire(ctx, n)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.held += got
	l.mu.Unlock()
	return nil
}

func (l *lease) releaseAll() {
	l.mu.Lock()
	n := l.held
	l.held = 0
	l.mu.Unlock()
	l.b.release(n)
}

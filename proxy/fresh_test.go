package proxy

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFreshUpstream(t *testing.T, c MetaStore, client *http.Client) (*HTTPUpstream, *testClock) {
	u, err := NewHTTPUpstream(UpstreamConfig{Client: client, Cache: c, Logger: testLogger(t), MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	u.now = clock.Now
	t.Cleanup(u.bg.Wait)
	return u, clock
}

func TestUpstreamFreshWithinMaxAge(t *testing.T) {
	s := newDocServer(t)
	c := newMemCache()
	u, clock := newFreshUpstream(t, c, s.Client())
	url := s.URL + "/p2/acme/foo.json"
	ctx := context.Background()
	if _, err := u.Document(ctx, url); err != nil {
		t.Fatal(err)
	}
	s.set(`{"packages":{"acme/foo":[]}}`, `"v2"`, 0)
	clock.advance(59 * time.Second)
	for range 5 {
		d, err := u.Document(ctx, url)
		if err != nil || string(d.Body) != `{"packages":{}}` || d.Stale {
			t.Fatalf("fresh copy: %+v, %v", d, err)
		}
	}
	if h := s.hits.Load(); h != 1 {
		t.Errorf("%d upstream requests within the max age, want 1", h)
	}
}

// TestUpstreamStaleWhileSlow: a document older than the max age is served
// at once while the upstream is slow, refreshed in the background once,
// and the refreshed copy is served after.
func TestUpstreamStaleWhileSlow(t *testing.T) {
	s := newDocServer(t)
	c := newMemCache()
	u, clock := newFreshUpstream(t, c, s.Client())
	url := s.URL + "/p2/acme/foo.json"
	ctx := context.Background()
	if _, err := u.Document(ctx, url); err != nil {
		t.Fatal(err)
	}
	s.set(`{"packages":{"acme/foo":[]}}`, `"v2"`, 0)
	s.gate = make(chan struct{}) // the upstream now hangs until released
	clock.advance(2 * time.Minute)
	for i := range 10 {
		reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := u.Document(reqCtx, url)
		cancel()
		if err != nil || string(d.Body) != `{"packages":{}}` || d.Stale {
			t.Fatalf("request %d while the upstream is slow: %+v, %v", i, d, err)
		}
	}
	for s.hits.Load() < 2 {
		time.Sleep(time.Millisecond) // the one refresh reaches the upstream
	}
	close(s.gate)
	u.bg.Wait()
	if h := s.hits.Load(); h != 2 {
		t.Errorf("%d upstream requests, want 2 (the first fetch and one refresh)", h)
	}
	d, err := u.Document(ctx, url)
	if err != nil || string(d.Body) != `{"packages":{"acme/foo":[]}}` || d.ETag != `"v2"` {
		t.Fatalf("after the refresh: %+v, %v", d, err)
	}
	if m, _ := c.GetMeta(ctx, url); m.ETag != `"v2"` {
		t.Errorf("refreshed copy not stored: %+v", m)
	}
}

// TestUpstreamUnchangedNotRewritten: a refresh that brings the same bytes
// (an upstream without validators) does not write the store again, and
// makes the copy fresh again.
func TestUpstreamUnchangedNotRewritten(t *testing.T) {
	s := newDocServer(t)
	s.set(`{"packages":{}}`, "", 0) // no ETag: every answer is a 200
	c := newMemCache()
	u, clock := newFreshUpstream(t, c, s.Client())
	url := s.URL + "/p2/acme/foo.json"
	ctx := context.Background()
	if _, err := u.Document(ctx, url); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clock.advance(2 * time.Minute)
		if _, err := u.Document(ctx, url); err != nil {
			t.Fatal(err)
		}
		u.bg.Wait()
	}
	if h := s.hits.Load(); h != 4 {
		t.Errorf("%d upstream requests, want 4", h)
	}
	if n := c.metaPuts.Load(); n != 1 {
		t.Errorf("the unchanged document was stored %d times, want 1", n)
	}
	// The refreshes confirmed it: fresh again, no request.
	if _, err := u.Document(ctx, url); err != nil {
		t.Fatal(err)
	}
	if h := s.hits.Load(); h != 4 {
		t.Errorf("%d upstream requests after a refresh, want 4", h)
	}
}

// TestUpstreamRefreshFailsServesStale: a refresh that fails leaves the
// stored copy served, marked Stale, and the upstream is not asked again
// before retryAfterFailure.
func TestUpstreamRefreshFailsServesStale(t *testing.T) {
	s := newDocServer(t)
	c := newMemCache()
	u, clock := newFreshUpstream(t, c, s.Client())
	url := s.URL + "/p2/acme/foo.json"
	ctx := context.Background()
	if _, err := u.Document(ctx, url); err != nil {
		t.Fatal(err)
	}
	s.set("", "", http.StatusServiceUnavailable)
	clock.advance(2 * time.Minute)
	u.Document(ctx, url)
	u.bg.Wait()
	for range 3 {
		d, err := u.Document(ctx, url)
		if err != nil || !d.Stale || string(d.Body) != `{"packages":{}}` {
			t.Fatalf("after a failed refresh: %+v, %v", d, err)
		}
		u.bg.Wait()
	}
	if h := s.hits.Load(); h != 2 {
		t.Errorf("%d upstream requests, want 2 (no retry before %v)", h, retryAfterFailure)
	}
	s.set(`{"packages":{}}`, `"v1"`, 0)
	clock.advance(retryAfterFailure)
	u.Document(ctx, url)
	u.bg.Wait()
	if d, _ := u.Document(ctx, url); d == nil || d.Stale {
		t.Errorf("after the upstream came back: %+v", d)
	}
}

// TestUpstreamRefreshesBounded: stale documents beyond the bound of
// refreshes running are served without a refresh.
func TestUpstreamRefreshesBounded(t *testing.T) {
	s := newDocServer(t)
	c := newMemCache()
	u, err := NewHTTPUpstream(UpstreamConfig{Client: s.Client(), Cache: c, MaxAge: time.Minute, Refreshes: 1})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	u.now = clock.Now
	ctx := context.Background()
	for _, p := range []string{"/a.json", "/b.json"} {
		if _, err := u.Document(ctx, s.URL+p); err != nil {
			t.Fatal(err)
		}
	}
	s.gate = make(chan struct{})
	clock.advance(2 * time.Minute)
	u.Document(ctx, s.URL+"/a.json")
	for s.hits.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	u.Document(ctx, s.URL+"/b.json") // the one slot is taken
	close(s.gate)
	u.bg.Wait()
	if h := s.hits.Load(); h != 3 {
		t.Errorf("%d upstream requests, want 3", h)
	}
}

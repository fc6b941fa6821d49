package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// docServer is an upstream of metadata documents with an ETag and
// Last-Modified, answering conditional requests with 304.
type docServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     string
	etag     string
	status   int // when non-zero, answered instead
	hits     atomic.Int64
	notMod   atomic.Int64
	gate     chan struct{}
	lastCond string
}

func newDocServer(t *testing.T) *docServer {
	s := &docServer{body: `{"packages":{}}`, etag: `"v1"`}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.gate != nil {
			<-s.gate
		}
		s.mu.Lock()
		body, etag, status := s.body, s.etag, s.status
		s.lastCond = r.Header.Get("If-None-Match") + "|" + r.Header.Get("If-Modified-Since")
		s.mu.Unlock()
		switch {
		case status != 0:
			http.Error(w, "nope", status)
		case r.URL.Path == "/missing.json":
			http.NotFound(w, r)
		case etag != "" && r.Header.Get("If-None-Match") == etag:
			s.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("ETag", etag)
			w.Header().Set("Last-Modified", "Sat, 21 Nov 2026 10:00:00 GMT")
			w.Write([]byte(body))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *docServer) set(body, etag string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.status = body, etag, status
}

// newTestUpstream returns an upstream that asks the upstream on every
// request (a negative MaxAge), as the tests of revalidation need.
func newTestUpstream(t *testing.T, c MetaStore, client *http.Client) *HTTPUpstream {
	u, err := NewHTTPUpstream(UpstreamConfig{Client: client, Cache: c, Logger: testLogger(t), MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUpstreamRevalidates(t *testing.T) {
	s := newDocServer(t)
	c := newMemCache()
	u := newTestUpstream(t, c, s.Client())
	ctx := context.Background()
	url := s.URL + "/p2/acme/foo.json"

	d, err := u.Document(ctx, url)
	if err != nil || string(d.Body) != `{"packages":{}}` || d.Stale || d.ETag != `"v1"` {
		t.Fatalf("first fetch: %+v, %v", d, err)
	}
	if m, err := c.GetMeta(ctx, url); err != nil || m.ETag != `"v1"` || m.LastModified == "" || m.FetchedAt.IsZero() {
		t.Errorf("stored %+v, %v", m, err)
	}

	d, err = u.Document(ctx, url)
	if err != nil || string(d.Body) != `{"packages":{}}` || d.Stale {
		t.Fatalf("revalidated: %+v, %v", d, err)
	}
	if s.notMod.Load() != 1 || s.lastCond != `"v1"|Sat, 21 Nov 2026 10:00:00 GMT` {
		t.Errorf("conditional request %q, %d 304s", s.lastCond, s.notMod.Load())
	}

	s.set(`{"packages":{"acme/foo":[]}}`, `"v2"`, 0)
	d, err = u.Document(ctx, url)
	if err != nil || !strings.Contains(string(d.Body), "acme/foo") || d.ETag != `"v2"` {
		t.Fatalf("changed: %+v, %v", d, err)
	}
	if m, _ := c.GetMeta(ctx, url); m.ETag != `"v2"` {
		t.Errorf("new copy not stored: %+v", m)
	}
}

func TestUpstreamStale(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func(s *docServer)
	}{
		{"5xx", func(s *docServer) { s.set("", "", http.StatusServiceUnavailable) }},
		{"429", func(s *docServer) { s.set("", "", http.StatusTooManyRequests) }},
		{"down", func(s *docServer) { s.Close() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newDocServer(t)
			c := newMemCache()
			u := newTestUpstream(t, c, s.Client())
			url := s.URL + "/p2/acme/foo.json"
			if _, err := u.Document(context.Background(), url); err != nil {
				t.Fatal(err)
			}
			tt.fail(s)
			d, err := u.Document(context.Background(), url)
			if err != nil || !d.Stale || string(d.Body) != `{"packages":{}}` {
				t.Fatalf("stale copy: %+v, %v", d, err)
			}
			// Without a copy, the failure is the answer.
			_, err = u.Document(context.Background(), s.URL+"/p2/other/bar.json")
			var up *UpstreamError
			if !errors.As(err, &up) || StatusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "other/bar.json") {
				t.Errorf("no copy: %v", err)
			}
		})
	}
}

func TestUpstreamNotFound(t *testing.T) {
	s := newDocServer(t)
	u := newTestUpstream(t, newMemCache(), s.Client())
	_, err := u.Document(context.Background(), s.URL+"/missing.json")
	if !errors.Is(err, ErrNotFound) || StatusOf(err) != http.StatusNotFound {
		t.Errorf("404: %v", err)
	}
	s.set("", "", http.StatusUnauthorized)
	_, err = u.Document(context.Background(), s.URL+"/x.json")
	if StatusOf(err) != http.StatusBadGateway {
		t.Errorf("upstream 401 must not reach the client as 401: %v (%d)", err, StatusOf(err))
	}
}

func TestUpstreamTooLarge(t *testing.T) {
	s := newDocServer(t)
	s.set(strings.Repeat("x", 2000), `"big"`, 0)
	u, err := NewHTTPUpstream(UpstreamConfig{Client: s.Client(), Cache: newMemCache(), MaxSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.Document(context.Background(), s.URL+"/big.json")
	if StatusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "limit") {
		t.Errorf("too large: %v", err)
	}
}

func TestUpstreamSharesFetches(t *testing.T) {
	s := newDocServer(t)
	s.gate = make(chan struct{})
	u := newTestUpstream(t, newMemCache(), s.Client())
	var wg sync.WaitGroup
	bodies := make([][]byte, 10)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := u.Document(context.Background(), s.URL+"/p2/acme/foo.json")
			if err != nil {
				t.Error(err)
				return
			}
			bodies[i] = d.Body
		}()
	}
	// The fetch is under way once the upstream saw it; give the others
	// time to join it.
	for s.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(s.gate)
	wg.Wait()
	if h := s.hits.Load(); h != 1 {
		t.Errorf("%d upstream requests for 10 concurrent fetches, want 1", h)
	}
	for i := range bodies {
		if string(bodies[i]) != `{"packages":{}}` {
			t.Fatalf("caller %d got %q", i, bodies[i])
		}
	}
}

func TestUpstreamCacheBroken(t *testing.T) {
	s := newDocServer(t)
	c := newMemCache()
	c.err = errors.New("disk on fire")
	u := newTestUpstream(t, c, s.Client())
	d, err := u.Document(context.Background(), s.URL+"/p2/acme/foo.json")
	if err != nil || d.Stale {
		t.Errorf("a broken cache must not stop fetching: %+v, %v", d, err)
	}
}

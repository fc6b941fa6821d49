package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// withLease runs fn inside a request that holds a lease on b, as serve's
// handler chain gives every request.
func withLease(b *MetadataBudget, fn func(ctx context.Context)) {
	b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fn(r.Context()) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/npm/x", nil))
}

func TestMetadataBudget(t *testing.T) {
	b := NewMetadataBudget(1<<20, 50*time.Millisecond)
	holding, done, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		withLease(b, func(ctx context.Context) {
			// A document larger than the whole budget goes through alone.
			if err := chargeRequest(ctx, 5<<20); err != nil {
				t.Errorf("alone, over the budget: %v", err)
			}
			close(holding)
			<-done
		})
	}()
	<-holding
	withLease(b, func(ctx context.Context) {
		err := chargeRequest(ctx, 1)
		if !errors.Is(err, ErrBusy) || StatusOf(err) != http.StatusServiceUnavailable {
			t.Errorf("while the budget is taken: %v (status %d), want ErrBusy and 503", err, StatusOf(err))
		}
	})
	close(done)
	<-finished
	withLease(b, func(ctx context.Context) {
		if err := chargeRequest(ctx, 1<<20); err != nil {
			t.Errorf("the budget was not released when the request ended: %v", err)
		}
	})
	// Without a lease (no Handler in front), nothing is charged.
	if err := chargeRequest(context.Background(), 1<<40); err != nil {
		t.Errorf("without a lease: %v", err)
	}
}

// TestUpstreamChargesBudget: the upstream charges the bytes of the
// documents it reads to the request; past the budget a request gets
// ErrBusy rather than one more document in memory.
func TestUpstreamChargesBudget(t *testing.T) {
	body := strings.Repeat("x", 600<<10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write([]byte(body))
	}))
	defer srv.Close()
	budget := NewMetadataBudget(1<<20, 100*time.Millisecond)
	u, err := NewHTTPUpstream(UpstreamConfig{Client: srv.Client(), Cache: newMemCache(), Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make(chan struct{})
	wg.Go(func() {
		withLease(budget, func(ctx context.Context) {
			if _, err := u.Document(ctx, srv.URL+"/a"); err != nil {
				t.Errorf("first document: %v", err)
			}
			close(got)
			<-release // the answer is still being written
		})
	})
	<-got
	withLease(budget, func(ctx context.Context) {
		_, err := u.Document(ctx, srv.URL+"/b")
		if !errors.Is(err, ErrBusy) {
			t.Errorf("second document while the first holds the budget: %v, want ErrBusy", err)
		}
	})
	close(release)
	wg.Wait()
	withLease(budget, func(ctx context.Context) {
		if _, err := u.Document(ctx, srv.URL+"/b"); err != nil {
			t.Errorf("after the first request ended: %v", err)
		}
	})
}

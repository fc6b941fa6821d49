package tlog_test

import (
	"sync"
	"testing"
)

// TestConcurrentLookups runs lookups from many goroutines while the log
// grows: every lookup must verify, and the stored checkpoint must end at
// the log's size. Run with -race.
func TestConcurrentLookups(t *testing.T) {
	l := newTestLog(t, 2)
	l.addN(3, pkgKey)
	store, tiles := newStores()
	c := l.client(t, store, tiles)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		defer close(stop)
		for range 15 {
			l.addN(7, pkgKey)
		}
	})
	for range 8 {
		wg.Go(func() {
			for {
				lk, err := c.Lookup(ctx, "composer", "acme/foo")
				if err != nil {
					t.Error(err)
					return
				}
				if uint64(len(lk.Entries)) != lk.Checkpoint.Size {
					t.Errorf("%d entries at size %d", len(lk.Entries), lk.Checkpoint.Size)
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	wg.Wait()
	mustLookup(t, c)
	if got, want := storedSize(t, store), uint64(l.size()); got != want {
		t.Fatalf("stored size %d, want %d", got, want)
	}
}

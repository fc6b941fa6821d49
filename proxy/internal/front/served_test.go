package front

import (
	"context"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

var _ ServedStore = (*cache.Store)(nil)

// TestServedStoreContract runs ServedStore's contract against every
// implementation: the in-memory default and the Badger store.
func TestServedStoreContract(t *testing.T) {
	badger := fronttest.Store(t)
	for name, s := range map[string]ServedStore{"memory": NewMemServed(), "cache": badger} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			key := "composer http://127.0.0.1:8780/composer/p2/acme/foo.json"
			t1, err := s.ServedState(ctx, key, []byte("digest-1"))
			if err != nil {
				t.Fatal(err)
			}
			if t1.IsZero() || !t1.Equal(t1.Truncate(time.Second)) {
				t.Errorf("time %v is not whole seconds", t1)
			}
			if again, _ := s.ServedState(ctx, key, []byte("digest-1")); !again.Equal(t1) {
				t.Errorf("unchanged digest moved the time: %v → %v", t1, again)
			}
			// A change within the same second still moves it forward.
			t2, _ := s.ServedState(ctx, key, []byte("digest-2"))
			if !t2.After(t1) {
				t.Errorf("changed digest: %v not after %v", t2, t1)
			}
			t3, _ := s.ServedState(ctx, key, []byte("digest-1"))
			if !t3.After(t2) {
				t.Errorf("changing back: %v not after %v", t3, t2)
			}
			if other, _ := s.ServedState(ctx, key+"~dev", []byte("digest-1")); other.After(t3.Add(time.Minute)) {
				t.Errorf("keys are not independent")
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.ServedState(cctx, key, []byte("digest-9")); err == nil {
				t.Errorf("cancelled context accepted")
			}
		})
	}
}

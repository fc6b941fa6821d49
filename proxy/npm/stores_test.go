package npm

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
)

var (
	_ ServedStore = (*memServed)(nil)
	_ ServedStore = (*cache.Store)(nil)
	_ KeyPins     = (*memPins)(nil)
	_ KeyPins     = (*cache.Store)(nil)
)

func badgerStore(t *testing.T) *cache.Store {
	s, err := cache.Open("", cache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestServedStoreContract runs ServedStore's contract against every
// implementation: the in-memory default and the Badger store.
func TestServedStoreContract(t *testing.T) {
	for name, s := range map[string]ServedStore{"memory": newMemServed(), "cache": badgerStore(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			key := "npm full http://127.0.0.1:8780/npm/foo"
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
			t2, _ := s.ServedState(ctx, key, []byte("digest-2"))
			if !t2.After(t1) {
				t.Errorf("changed digest: %v not after %v", t2, t1)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.ServedState(cctx, key, []byte("digest-9")); err == nil {
				t.Error("cancelled context accepted")
			}
		})
	}
}

// TestKeyPinsContract runs KeyPins' contract against every
// implementation: the in-memory default and the Badger store.
func TestKeyPinsContract(t *testing.T) {
	for name, s := range map[string]KeyPins{"memory": newMemPins(), "cache": badgerStore(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			const reg = "https://upstream.test"
			if got, err := s.PinNPMKeys(ctx, reg, nil); err != nil || len(got) != 0 {
				t.Fatalf("nothing pinned yet: %v, %v", got, err)
			}
			first := map[string]string{"k1": "a"}
			if got, err := s.PinNPMKeys(ctx, reg, first); err != nil || !maps.Equal(got, first) {
				t.Fatalf("first pin: %v, %v", got, err)
			}
			// Pinned keys never change or go; new ones are added.
			got, err := s.PinNPMKeys(ctx, reg, map[string]string{"k1": "b", "k2": "c"})
			if want := map[string]string{"k1": "a", "k2": "c"}; err != nil || !maps.Equal(got, want) {
				t.Fatalf("second pin: %v, %v; want %v", got, err, want)
			}
			// The caller owns what it gets.
			got["k1"] = "mutated"
			if again, _ := s.PinNPMKeys(ctx, reg, nil); again["k1"] != "a" {
				t.Error("a returned map aliases the pins")
			}
			if other, _ := s.PinNPMKeys(ctx, reg+"/other", nil); len(other) != 0 {
				t.Error("registries share pins")
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.PinNPMKeys(cctx, reg, nil); err == nil {
				t.Error("cancelled context accepted")
			}
		})
	}
}

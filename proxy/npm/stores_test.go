package npm

import (
	"context"
	"maps"
	"testing"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

var (
	_ KeyPins = (*memPins)(nil)
	_ KeyPins = (*cache.Store)(nil)
)

// TestKeyPinsContract runs KeyPins' contract against every
// implementation: the in-memory default and the Badger store.
func TestKeyPinsContract(t *testing.T) {
	for name, s := range map[string]KeyPins{"memory": newMemPins(), "cache": fronttest.Store(t)} {
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

package proxy

import (
	"context"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
)

func TestPinKey(t *testing.T) {
	c := func(v, ref string) *VersionFacts {
		return &VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Version: v, DistReference: ref}}
	}
	tests := []struct {
		f    *VersionFacts
		want string
	}{
		{c("v1.0.0", "abc"), "1.0.0.0"},
		{c("1.0.0", "def"), "1.0.0.0"},
		{c("dev-main", "c1"), "dev-main#c1"},
		{c("2.x-dev", "c2"), "2.9999999.9999999.9999999-dev#c2"},
		{&VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Version: "dev-main", Source: "s1"}}, "dev-main#s1"},
		{c("not a version", ""), "not a version"},
		{&VersionFacts{Ecosystem: release.NPM, Metadata: policy.Metadata{Version: "1.0.0"}}, "1.0.0"},
	}
	for _, tt := range tests {
		if got := pinKey(tt.f); got != tt.want {
			t.Errorf("pinKey(%s %q) = %q, want %q", tt.f.Ecosystem, tt.f.Version, got, tt.want)
		}
	}
}

// TestPinMigration: a pin an older sigil made under the raw version string
// holds for the normalized key.
func TestPinMigration(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx := context.Background()
	if _, _, err := e.cache.PinTree(ctx, release.Composer, "acme/foo", "v1.0.0", "h1:old"); err != nil {
		t.Fatal(err)
	}
	f := &VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Package: "acme/foo", Version: "v1.0.0"}}
	p, ok, err := e.v.pinned(ctx, f, pinKey(f))
	if err != nil || !ok || p.tree != "h1:old" || p.manifest != "" {
		t.Fatalf("pinned = %+v, %v, %v; want the old pin", p, ok, err)
	}
	f.Version = "1.0.0"
	if p, ok, _ := e.v.pinned(ctx, f, pinKey(f)); !ok || p.tree != "h1:old" {
		t.Errorf("1.0.0 after v1.0.0: %+v, %v; want the same pin", p, ok)
	}
}

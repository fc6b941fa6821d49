package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/release"
)

// The first-seen pin of an unsigned version holds its tree hash and the
// digest of the archive's own manifest, as "tree\\nmanifest" in the
// cache's pin record (a pin made by an older sigil holds the tree alone).
//
// It is keyed by the version as the client compares versions: for Composer
// the normalized version ("v1.0.0" and "1.0.0" are one version to Composer,
// so they are one pin), and for a dev version the normalized version and
// the commit ("dev-main#<dist.reference>"), since a branch moves with
// every commit while one commit never changes content. npm versions are
// exact semver strings and key themselves. A Composer version that does not
// normalize keys itself as written.

type pinValue struct{ tree, manifest string }

func (p pinValue) String() string {
	if p.manifest == "" {
		return p.tree
	}
	return p.tree + "\n" + p.manifest
}

func parsePin(s string) pinValue {
	tree, manifest, _ := strings.Cut(s, "\n")
	return pinValue{tree, manifest}
}

func pinKey(f *VersionFacts) string {
	if f.Ecosystem != release.Composer {
		return f.Version
	}
	n, err := release.NormalizeComposerVersion(f.Version)
	if err != nil {
		return f.Version
	}
	if release.IsComposerDev(n) {
		ref := f.DistReference
		if ref == "" {
			ref = f.Source
		}
		if ref != "" {
			n += "#" + ref
		}
	}
	return n
}

// pinned returns the pin of f's version under key. A version pinned by an
// older sigil under its raw version string (before pins were keyed by the
// normalized version) is carried over to key, once; a dev version's old
// pin is not, as it named no commit.
func (v *Verifier) pinned(ctx context.Context, f *VersionFacts, key string) (pinValue, bool, error) {
	got, _, err := v.cache.PinnedTree(ctx, f.Ecosystem, f.Package, key)
	if err == nil {
		return parsePin(got), true, nil
	}
	if !errors.Is(err, cache.ErrNotFound) {
		return pinValue{}, false, fmt.Errorf("archive of %s %s: %w", f.Package, f.Version, err)
	}
	if key == f.Version || strings.Contains(key, "#") {
		return pinValue{}, false, nil
	}
	old, _, err := v.cache.PinnedTree(ctx, f.Ecosystem, f.Package, f.Version)
	if errors.Is(err, cache.ErrNotFound) {
		return pinValue{}, false, nil
	}
	if err != nil {
		return pinValue{}, false, fmt.Errorf("archive of %s %s: %w", f.Package, f.Version, err)
	}
	got, _, err = v.cache.PinTree(ctx, f.Ecosystem, f.Package, key, old)
	if err != nil {
		return pinValue{}, false, fmt.Errorf("archive of %s %s: %w", f.Package, f.Version, err)
	}
	return parsePin(got), true, nil
}

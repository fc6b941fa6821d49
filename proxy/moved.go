package proxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
)

// An archive reference is keyed by the archive URL the metadata named
// (cache.ArchiveKey), and that URL is the upstream's: a new --npm-upstream
// or Composer upstream, or a registry that moved its archives, names every
// archive by a new URL. The bytes verified under the old URL are still
// the version's bytes, so moved finds them by version and decides them
// again, as a cached archive is decided on every request; only when the
// verdict passes are they served, and referenced under the new URL too.
// No download is needed, so an archive sigil verified stays servable while
// the new upstream's archives are out of reach.

// VersionArchives is what a Cache offers when it can list the blobs that
// references of one version name under any archive URL; *cache.Store
// does (StoreCache). Without it, an archive whose URL changed is
// downloaded and verified again.
type VersionArchives interface {
	VersionArchives(ctx context.Context, eco, pkg, version string) ([][32]byte, error)
}

// moved returns a blob stored for key's version under another archive URL
// whose verdict, made now on its bytes with the current evidence, pins and
// metadata, passes every check; or nil and no error when there is none.
// Bytes that would fail, or that only a first-seen pin would make right
// (an unsigned version with no pin yet), are left alone: the caller
// downloads the archive and decides its bytes as for any miss.
func (v *Verifier) moved(ctx context.Context, key cache.ArchiveKey, ev *policy.Evidence, f *VersionFacts, m policy.Metadata) (*Archive, error) {
	va, ok := v.cache.(VersionArchives)
	if !ok {
		return nil, nil
	}
	sums, err := va.VersionArchives(ctx, key.Ecosystem, key.Package, key.Version)
	if err != nil {
		// Only a shortcut is lost: the download decides as always.
		v.logger.Warn("proxy: listing the stored archives of a version failed; downloading it", "archive", key.String(), "err", err)
		return nil, nil
	}
	for _, sum := range sums {
		a, err := v.movedBlob(ctx, key, ev, f, m, sum)
		if a != nil || err != nil {
			return a, err
		}
	}
	return nil, nil
}

func (v *Verifier) movedBlob(ctx context.Context, key cache.ArchiveKey, ev *policy.Evidence, f *VersionFacts, m policy.Metadata, sum [32]byte) (*Archive, error) {
	blob, err := v.cache.OpenBlob(ctx, sum)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, nil // evicted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", key, err)
	}
	served := false
	defer func() {
		if !served {
			blob.Close()
		}
	}()
	af, err := v.blobFacts(f.Ecosystem, sum, blob)
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", key, err)
	}
	if ev.Unsigned() && af.Tree != "" {
		pinned, ok, err := v.pinned(ctx, f, pinKey(f))
		if err != nil {
			return nil, err
		}
		if !ok {
			// No pin: first sight is for bytes from the upstream.
			return nil, nil
		}
		af.Pinned, af.PinnedManifest = pinned.tree, pinned.manifest
	}
	vd := v.policy.Archive(ev, m, af)
	if vd.Failed || vd.Blocked() {
		return nil, nil
	}
	stored, err := v.cache.PutArchiveRefIfAbsent(ctx, key, sum)
	if err != nil {
		if errors.Is(err, cache.ErrNotFound) {
			return nil, nil // evicted since it was opened
		}
		return nil, fmt.Errorf("archive %s: %w", key, err)
	}
	if stored != sum {
		// Another request referenced other bytes under the new URL
		// meanwhile: those are the ones served for it.
		return v.cached(ctx, key, ev, f, m)
	}
	served = true
	return &Archive{Body: blob, Closer: blob, Size: blob.Size(), SHA256: sum, ModTime: blob.ModTime(), Verdict: vd}, nil
}

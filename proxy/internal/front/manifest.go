package front

import "github.com/sigilproxy/sigil/release"

// Manifests computes the manifest digests of one document's versions
// (release.MetadataManifestDigest). Most versions of a package share their
// dependency fields with a neighbour (in minified Composer metadata they
// are literally inherited), so each distinct input is digested once: for
// a package with hundreds of versions this is most of the cost of reading
// its metadata. Not safe for concurrent use: one document is read by one
// goroutine.
type Manifests struct {
	ecosystem string
	memo      map[string]manifestResult
}

type manifestResult struct {
	digest string
	err    error
}

// NewManifests returns an empty memo for documents of ecosystem.
func NewManifests(ecosystem string) *Manifests {
	return &Manifests{ecosystem: ecosystem, memo: map[string]manifestResult{}}
}

// Digest is release.MetadataManifestDigest(ecosystem, in), once per
// distinct in.
func (m *Manifests) Digest(in []byte) (string, error) {
	if r, ok := m.memo[string(in)]; ok {
		return r.digest, r.err
	}
	d, err := release.MetadataManifestDigest(m.ecosystem, in)
	m.memo[string(in)] = manifestResult{d, err}
	return d, err
}

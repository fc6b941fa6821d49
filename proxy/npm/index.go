package npm

import (
	"time"
)

// A tarball request needs the facts of one version from the upstream's
// packument. npm downloads tarballs right after it read the packuments, so
// sigil keeps what it extracted from each packument it parsed, by package
// name, for indexTTL (front.Recent says why only facts, never verdicts).
const (
	indexTTL = time.Minute
	// indexSize holds an install of a few hundred packages (one of 350 asks
	// for 344 packuments) with room to spare: facts are a few hundred
	// bytes per version, and kept for indexTTL only.
	indexSize = 1024
	// indexBytes bounds the facts kept, at indexedBytes per version
	// (measured: about 430 bytes, with the strings they hold): 32 MiB is
	// some 65,000 versions, twice what an install of 350 packages reads,
	// while a few packuments with tens of thousands of versions each no
	// longer stay for the minute a thousand of them could.
	indexBytes   = 32 << 20
	indexedBytes = 512
)

// indexWeight is what the facts of x cost, for indexBytes.
func indexWeight(x *docIndex) int64 { return int64(len(x.versions)) * indexedBytes }

// indexed is what sigil knows about one version of a recent packument.
type indexed struct {
	versionFacts
	published string // the packument's "time" entry, "" if none
}

// docIndex holds the facts of one packument, by version.
type docIndex struct {
	versions map[string]*indexed
	sum      [32]byte // of the upstream packument
}

func newDocIndex(p *packument, sum [32]byte) *docIndex {
	x := &docIndex{versions: make(map[string]*indexed, len(p.versions)), sum: sum}
	for i := range p.versions {
		v := &p.versions[i]
		x.versions[v.key] = &indexed{versionFacts: v.versionFacts, published: p.times[v.key]}
	}
	return x
}

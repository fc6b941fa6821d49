package composer

import (
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// An archive request needs the facts of one version from the upstream's
// metadata. Composer downloads archives right after it read the metadata,
// so sigil keeps what it extracted from each p2 document it parsed, by
// document URL, for indexTTL (front.Recent says why only facts, never
// verdicts).
const (
	indexTTL  = time.Minute
	indexSize = 128 // documents; a few hundred KB at most each
)

// archiveRef is what sigil knows about one version's archive.
type archiveRef struct {
	facts proxy.VersionFacts
	dist  dist
}

// docIndex holds the archive facts of one upstream p2 document, in
// document order. A lookup scans it: a few thousand string comparisons
// per archive request cost less than building a map on every metadata
// request.
type docIndex struct {
	refs []archiveRef
	sum  [32]byte // of the upstream document
}

func newDocIndex(d *p2Doc, sum [32]byte) *docIndex {
	x := &docIndex{refs: make([]archiveRef, 0, len(d.entries)), sum: sum}
	for i := range d.entries {
		if e := &d.entries[i]; e.problem == "" {
			x.refs = append(x.refs, archiveRef{e.facts, e.dist})
		}
	}
	return x
}

package front

import (
	"slices"

	"github.com/sigilproxy/sigil/release"
)

// Served metadata is an allowlist (DESIGN.md, "Formats"): a version object
// keeps its identity, the fields the manifest digest covers, sigil's own
// dist (and source, where policy keeps it), and fields that change nothing
// on disk. Everything else a registry sends is dropped, so that no field a
// client acts on reaches it unless sigil checked it.

// ManifestFields returns the install-relevant fields of a version of eco,
// those the manifest digest covers (release.ManifestFields), sorted. The
// caller must not change the slice.
func ManifestFields(eco string) []string { return sortedFields[eco].manifest }

// informational are the fields a front serves as they came although no
// statement covers them: each is shown to a person (or used to warn one)
// and changes nothing a client writes to disk or runs.
//
// Composer: description, keywords, homepage, license, authors, support,
// funding, time, abandoned (a warning), suggest (printed after install),
// default-branch (adds the default-branch alias of a dev version; the
// code installed is the same).
//
// npm: description, keywords, homepage, license, author, contributors,
// maintainers, repository, bugs, funding (printed by npm fund),
// deprecated (a warning), readme, readmeFilename, _npmUser (who published,
// shown by npm view).
var informational = map[string][]string{
	release.Composer: {"description", "keywords", "homepage", "license", "authors", "support",
		"funding", "time", "abandoned", "suggest", "default-branch"},
	release.NPM: {"description", "keywords", "homepage", "license", "author", "contributors",
		"maintainers", "repository", "bugs", "funding", "deprecated", "readme", "readmeFilename", "_npmUser"},
}

// identity are the fields that name a version.
var identity = []string{"name", "version"}

type fieldSet struct {
	manifest []string // sorted
	served   []string // sorted: identity, manifest and informational
}

var sortedFields = func() map[string]fieldSet {
	out := map[string]fieldSet{}
	for _, eco := range []string{release.Composer, release.NPM} {
		m := release.ManifestFields(eco)
		fs := fieldSet{manifest: slices.Clone(m)}
		slices.Sort(fs.manifest)
		fs.served = slices.Concat(identity, m, informational[eco])
		slices.Sort(fs.served)
		out[eco] = fs
	}
	return out
}()

// ServedField reports whether a front serves the member key of a version
// object of eco as the registry wrote it. dist and source are not among
// them: the fronts write their own.
func ServedField(eco, key string) bool {
	_, ok := slices.BinarySearch(sortedFields[eco].served, key)
	return ok
}

// IsManifestField reports whether key is an install-relevant field of eco.
func IsManifestField(eco, key string) bool {
	_, ok := slices.BinarySearch(sortedFields[eco].manifest, key)
	return ok
}

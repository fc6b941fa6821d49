package composer

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
)

// The functions in this file let a release log observe a Composer
// repository with the very parsing the proxy applies, so that what the log
// records and what every proxy compares are computed alike.

// PackagesJSONURL is the URL of the root document of the Composer
// repository at repoURL, as Composer derives it.
func PackagesJSONURL(repoURL *url.URL) string {
	return (&Handler{upstreamURL: repoURL}).packagesJSONURL()
}

// MetadataURL returns the URL of pkg's p2 document, from the repository's
// packages.json (its metadata-url, resolved as Composer resolves it).
func MetadataURL(repoURL *url.URL, packagesJSON []byte, pkg string) (string, error) {
	_, info, err := (&Handler{upstreamURL: repoURL}).parseRoot(packagesJSON)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(info.metadataURL, "%package%", pkg), nil
}

// VersionFacts returns the facts of every version of pkg that a p2
// document lists and sigil could serve: with a version string, the
// package's own name and a zip or tar dist. Versions the proxy would not
// serve are left out, and so is a document that does not list pkg.
func VersionFacts(p2 []byte, pkg string) ([]proxy.VersionFacts, error) {
	d, err := parseP2(p2, pkg)
	if err != nil {
		return nil, fmt.Errorf("p2 document of %s: %w", front.QuoteForLog(pkg), err)
	}
	out := make([]proxy.VersionFacts, 0, len(d.entries))
	for _, e := range d.entries {
		if e.problem == "" && e.dist.ok {
			out = append(out, e.facts)
		}
	}
	return out, nil
}

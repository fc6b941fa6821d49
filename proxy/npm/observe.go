package npm

import (
	"fmt"
	"strings"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
)

// The functions in this file let a release log observe an npm registry
// with the very parsing the proxy applies, so that what the log records
// and what every proxy compares are computed alike.

// PackumentURL is the URL of name's packument on the registry at base.
func PackumentURL(base, name string) string {
	return strings.TrimSuffix(base, "/") + "/" + escapedName(name)
}

// VersionFacts returns the facts of every version of name that a
// packument lists and sigil could serve. Versions the proxy would not
// serve (no tarball, a name or version that does not match) are left out.
func VersionFacts(packument []byte, name string) ([]proxy.VersionFacts, error) {
	p, err := parsePackument(packument, name)
	if err != nil {
		return nil, fmt.Errorf("packument of %s: %w", front.QuoteForLog(name), err)
	}
	out := make([]proxy.VersionFacts, 0, len(p.versions))
	for _, v := range p.versions {
		if v.problem == "" {
			out = append(out, v.facts)
		}
	}
	return out, nil
}

package composer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
	"github.com/sigilproxy/sigil/release"
)

// p2Doc is an upstream p2 document (vendor/name.json or ~dev.json),
// parsed and expanded, for one package. It is shared by every request that
// serves the same upstream bytes (see parsed.go), so nothing changes it
// after parseP2.
type p2Doc struct {
	pkg     string  // lowercase vendor/name
	size    int     // of the upstream document, in bytes
	entries []entry // in upstream order; nil if the document has none
	// present is whether packages[pkg] exists: Composer tells "no such
	// package" from "no versions" by it.
	present bool
	// rest holds the top-level members passed through (an allowlist):
	// the upstream's notices, "security-advisories" and "filter" (which
	// Composer reads from p2 documents when packages.json says
	// "metadata": true in the object of the same name). Every other
	// top-level member is dropped.
	rest object

	// factsOnce makes facts once: the facts of the entries that are not
	// malformed, in order, which every request asks the Checker about.
	factsOnce sync.Once
	facts     []proxy.VersionFacts
}

// entry is one version of the upstream metadata and what sigil made of it.
type entry struct {
	// members are the version's, expanded as Composer would see it,
	// sorted by key: how served.go writes them, without building an
	// object per request.
	members []member
	facts   proxy.VersionFacts
	dist    dist // ok=false: no archive sigil can serve
	// source is the source object as served where policy keeps sources
	// (without "mirrors"), if it has a reference.
	source json.RawMessage
	// problem, if set, is why the entry cannot be served at all.
	problem string
}

// dist is the archive of a version as the upstream's metadata names it.
type dist struct {
	ok        bool
	typ       string // "zip" or "tar"
	url       string // absolute http(s), learned from the metadata
	reference string
}

// Archive types sigil serves: those whose tree hash it can compute. Other
// Composer dist types (gzip, xz, rar, phar…) are never published by
// Packagist; a version with one keeps only its (verified) source.
var distExt = map[string]string{"zip": "zip", "tar": "tar"}

// parseP2 parses an upstream p2 document for pkg. A document that is not
// JSON, or whose structure Composer could not load either, is an error: it
// is answered with 502 and nothing from it is served or cached.
func parseP2(body []byte, pkg string) (*p2Doc, error) {
	top, err := parseDocument(body)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	d := &p2Doc{pkg: pkg, size: len(body), rest: object{}}
	// Composer's own protections pass: security advisories, and the
	// entries of its filter lists (Composer 2.10 reads "filter" from p2
	// documents when packages.json says filter.metadata). Both only take
	// versions away from what Composer may install.
	for _, k := range []string{"security-advisories", "filter"} {
		if raw, ok := top[k]; ok {
			if kind := rawjson.Kind(raw); kind == '{' || kind == '[' {
				d.rest[k] = raw
			}
		}
	}
	passNotices(top, d.rest)

	raw, ok := top["packages"]
	if !ok {
		return d, nil
	}
	packages, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	list, ok := packages[pkg]
	if !ok {
		return d, nil
	}
	d.present = true
	items, err := parseValues(list)
	if err != nil {
		return nil, fmt.Errorf("packages[%q]: %w", pkg, err)
	}
	versions := make([][]member, len(items))
	for i, item := range items {
		if versions[i], err = parseMembers(item); err != nil {
			return nil, fmt.Errorf("packages[%q][%d]: %w", pkg, i, err)
		}
	}
	// Composer expands only on this exact value (ComposerRepository::
	// loadAsyncPackages); any other value leaves the list as it is.
	if m, ok := top.stringMember("minified"); ok && m == "composer/2.0" {
		versions = expand(versions)
	}
	d.entries = make([]entry, len(versions))
	digests := front.NewManifests(release.Composer)
	for i, v := range versions {
		d.entries[i] = newEntry(pkg, v, digests)
	}
	return d, nil
}

// newEntry extracts the facts of one expanded version, whose members ms
// are sorted by key.
func newEntry(pkg string, ms []member, digests *front.Manifests) entry {
	e := entry{members: ms}
	version, ok := lookupString(ms, "version")
	if !ok || version == "" {
		// Composer would cast a number to a string; a statement names a
		// string exactly, so a version without one cannot be checked.
		e.problem = "an entry of " + pkg + " has no version string"
		return e
	}
	if name, ok := lookupString(ms, "name"); !ok || asciiLower(name) != pkg {
		// Composer creates the package under this name (lowercased by
		// PHP's strtolower, ASCII only), whatever file it came from; it
		// must be the package the verdict is about.
		e.problem = fmt.Sprintf("%s %s: entry names package %s", pkg, front.QuoteForLog(version), front.QuoteForLog(name))
		return e
	}
	e.facts = proxy.VersionFacts{
		Ecosystem: release.Composer,
		Metadata:  policy.Metadata{Package: pkg, Version: version},
	}
	e.facts.Manifest, e.facts.ManifestErr = digests.Digest(manifestInput(ms))

	if raw, ok := lookup(ms, "source"); ok {
		if s, err := parseObject(raw); err == nil {
			if ref, ok := s.stringMember("reference"); ok && ref != "" {
				e.source = servedSource(raw, s)
				e.facts.Source = ref
			}
		}
	}
	if raw, ok := lookup(ms, "dist"); ok {
		e.dist = parseDist(raw)
		if e.dist.ok {
			e.facts.ArchiveURL = e.dist.url
			e.facts.DistReference = e.dist.reference
		}
	}
	return e
}

// servedSource is the source object raw, parsed as s, as sigil serves it:
// without "mirrors", other places to fetch it from, which sigil has not
// looked at.
func servedSource(raw json.RawMessage, s object) json.RawMessage {
	if _, ok := s["mirrors"]; !ok {
		return raw
	}
	delete(s, "mirrors")
	return appendObject(nil, s)
}

func parseDist(raw []byte) dist {
	o, err := parseObject(raw)
	if err != nil {
		return dist{}
	}
	typ, _ := o.stringMember("type")
	if _, ok := distExt[typ]; !ok {
		return dist{}
	}
	s, _ := o.stringMember("url")
	u, err := url.Parse(s)
	if err != nil || !front.IsHTTP(u) {
		return dist{}
	}
	ref, _ := o.stringMember("reference")
	return dist{ok: true, typ: typ, url: s, reference: ref}
}

// manifestKeys are the members of a version object the manifest digest
// covers (release.MetadataManifestDigest reads nothing else), so the digest
// of the object made of just these equals the digest of the whole version.
var manifestKeys = release.MetadataManifestInputs(release.Composer)

// manifestInput is the object of the manifestKeys members of ms, sorted
// by key as appendObject writes objects, which front.Manifests digests
// once per distinct value.
func manifestInput(ms []member) []byte {
	b := []byte{'{'}
	for _, m := range ms {
		if slices.Contains(manifestKeys, m.key) {
			b = appendMember(b, m.key, bytes.TrimSpace(m.val))
		}
	}
	return append(b, '}')
}

// asciiLower is PHP 8's strtolower: ASCII letters only. strings.ToLower
// would also fold, say, the Kelvin sign into "k", and call two names equal
// that Composer keeps apart.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

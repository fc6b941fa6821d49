package npm

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
	"github.com/sigilproxy/sigil/release"
)

// packument is an upstream packument (the full form), parsed for one
// package. It is shared by every request that serves the same upstream
// bytes (see parsed.go), so nothing changes it after parsePackument.
type packument struct {
	name string
	size int    // of the upstream document, in bytes
	top  object // every top-level member, in order
	// versions are the members of "versions", in order; nil when there
	// are none.
	versions []version
	distTags object            // "dist-tags", values still raw
	hasTags  bool              // "dist-tags" is an object
	times    map[string]string // "time": publish time by version
	time     object            // "time", when it is an object
}

// version is one version of the packument and what sigil made of it.
type version struct {
	key  string // its name in "versions": the version npm reads
	obj  object // the version object
	dist object // its "dist" object
	// installScript is whether the abbreviated form says
	// hasInstallScript (see hasInstallScript).
	installScript bool
	versionFacts
}

// versionFacts is what deciding a version takes, kept for the archive
// requests that follow a packument (see index.go).
type versionFacts struct {
	facts proxy.VersionFacts
	// sigIntegrity is what npm's registry signature covers after the
	// "name@version:": dist.integrity, or for versions published before
	// npm recorded one, the shasum as an SRI string (pacote registry.js).
	sigIntegrity string
	signatures   []registrySig // dist.signatures
	sigProblem   string        // why dist.signatures could not be read
	// problem, if set, is why the version cannot be served at all.
	problem string
}

// registrySig is one element of dist.signatures.
type registrySig struct {
	keyID string
	sig   []byte
}

// parsePackument parses an upstream packument for the package name. A
// document that is not JSON, or whose structure npm could not use either,
// is an error: it is answered with 502 and nothing of it is served.
func parsePackument(body []byte, name string) (*packument, error) {
	if err := rawjson.Validate(body); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	top, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	p := &packument{name: name, size: len(body), top: top}
	if raw, ok := top.get("name"); ok {
		if n, ok := rawjson.String(raw); !ok || n != name {
			return nil, fmt.Errorf("the document is about package %s, not %s", front.QuoteForLog(n), name)
		}
	}
	if raw, ok := top.get("dist-tags"); ok && rawjson.Kind(raw) == '{' {
		p.hasTags = true
		if p.distTags, err = parseObject(raw); err != nil {
			return nil, fmt.Errorf("dist-tags: %w", err)
		}
	}
	if raw, ok := top.get("time"); ok && rawjson.Kind(raw) == '{' {
		t, err := parseObject(raw)
		if err != nil {
			return nil, fmt.Errorf("time: %w", err)
		}
		p.time = t
		p.times = make(map[string]string, len(t))
		for _, m := range t {
			if s, ok := rawjson.String(m.val); ok {
				p.times[m.key] = s
			}
		}
	}
	raw, ok := top.get("versions")
	if !ok || rawjson.Kind(raw) == 'n' {
		return p, nil
	}
	vs, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}
	p.versions = make([]version, len(vs))
	sc := &scratch{digests: front.NewManifests(release.NPM)}
	for i, m := range vs {
		p.versions[i] = newVersion(name, m.key, m.val, sc)
	}
	return p, nil
}

// scratch is what parsing the versions of one packument reuses.
type scratch struct {
	obj     object // each version object is split here, then copied
	digests *front.Manifests
}

// newVersion extracts the facts of one version object.
func newVersion(pkg, key string, raw []byte, sc *scratch) version {
	v := version{key: key}
	fail := func(format string, args ...any) version {
		v.problem = pkg + "@" + quoteVersion(key) + ": " + fmt.Sprintf(format, args...)
		return v
	}
	if !validVersion(key) {
		return fail("not a version string npm could install")
	}
	obj, err := parseObjectInto(raw, sc.obj)
	if err != nil {
		return fail("the version entry is %s, not an object", rawjson.Describe(raw))
	}
	sc.obj = obj
	obj = slices.Clone(obj) // of its exact size
	v.obj = obj
	v.installScript = hasInstallScript(obj)
	// The registry stores a version under its own version string and
	// package name; an entry that says otherwise is not what the verdict
	// would be about (npm reads name and version from the entry).
	if s, ok := obj.str("version"); !ok || s != key {
		return fail("the entry names version %s", front.QuoteForLog(s))
	}
	if s, ok := obj.str("name"); !ok || s != pkg {
		return fail("the entry names package %s", front.QuoteForLog(s))
	}
	distRaw, ok := obj.get("dist")
	if !ok || rawjson.Kind(distRaw) != '{' {
		return fail("the entry has no dist object, so no tarball")
	}
	if v.dist, err = parseObject(distRaw); err != nil {
		return fail("dist: %v", err)
	}
	tarball, ok := v.dist.str("tarball")
	if u, err := url.Parse(tarball); !ok || err != nil || !front.IsHTTP(u) {
		return fail("dist.tarball is not an http or https URL")
	}
	v.facts = proxy.VersionFacts{
		Ecosystem:  release.NPM,
		Metadata:   policy.Metadata{Package: pkg, Version: key},
		ArchiveURL: tarball,
	}
	if raw, ok := v.dist.get("integrity"); ok {
		s, ok := rawjson.String(raw)
		if !ok {
			return fail("dist.integrity is %s, not a string", rawjson.Describe(raw))
		}
		v.facts.Integrity = s
		v.sigIntegrity = strings.Join(strings.Fields(s), " ")
	} else if s, ok := v.dist.str("shasum"); ok {
		// Only versions from before 2017 lack an integrity; npm then
		// checks and signs the SHA-1 (pacote registry.js, ssri.fromHex).
		// sigil checks SHA-512 digests only, so facts carry none.
		if sum, err := hex.DecodeString(s); err == nil && len(sum) == 20 {
			v.sigIntegrity = "sha1-" + base64.StdEncoding.EncodeToString(sum)
		}
	}
	v.facts.Manifest, v.facts.ManifestErr = sc.digests.Digest(manifestInput(obj))
	// npm reads the field as truthy; anything but true is served as
	// nothing, which npm reads the same as false.
	if raw, ok := obj.get("_hasShrinkwrap"); ok && string(bytes.TrimSpace(raw)) == "true" {
		v.facts.Shrinkwrap = true
	}
	if raw, ok := v.dist.get("signatures"); ok {
		v.signatures, v.sigProblem = parseSignatures(raw)
	}
	return v
}

// parseSignatures reads dist.signatures: a list of {keyid, sig}, sig the
// base64 of an ASN.1 ECDSA signature.
func parseSignatures(raw []byte) ([]registrySig, string) {
	var sigs []registrySig
	err := rawjson.Elements(raw, func(e []byte) error {
		o, err := parseObject(e)
		if err != nil {
			return err
		}
		id, ok1 := o.str("keyid")
		s, ok2 := o.str("sig")
		if !ok1 || !ok2 || id == "" {
			return fmt.Errorf("an entry without a keyid and sig")
		}
		sig, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("the signature of key %s is not base64", front.QuoteForLog(id))
		}
		sigs = append(sigs, registrySig{keyID: id, sig: sig})
		return nil
	})
	if err != nil {
		return nil, "dist.signatures cannot be read: " + err.Error()
	}
	return sigs, ""
}

// manifestFields are the members of a version object that
// release.MetadataManifestDigest reads, so that the digest of the object
// made of just these equals the digest of the whole version.
var manifestFields = release.MetadataManifestInputs(release.NPM)

// manifestInput is the object of v's manifestFields, which
// front.Manifests digests once per distinct value.
func manifestInput(v object) []byte {
	b := []byte{'{'}
	for _, k := range manifestFields {
		if raw, ok := v.get(k); ok {
			b = appendMember(b, k, raw)
		}
	}
	return append(b, '}')
}

// validVersion bounds a version string, from a packument or a request
// path: npm's versions are short and printable, and never hold "/".
func validVersion(v string) bool {
	if v == "" || len(v) > 256 || v == "." || v == ".." {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func quoteVersion(v string) string {
	if validVersion(v) {
		return v
	}
	return front.QuoteForLog(v)
}

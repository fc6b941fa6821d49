package npm

import (
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// npm reads a packument with JSON.parse: members of an object in document
// order, the last of duplicate names winning (in the position of the
// first). sigil reads it the same way and writes back only what it read:
// member names re-encoded from their decoded form, values as the
// upstream's bytes. So whatever quirk a name has (escapes, a lone
// surrogate that Go decodes to U+FFFD), npm reads the name sigil decided
// about, and every value sigil does not rewrite reaches npm byte for byte.

// member is one member of a JSON object.
type member struct {
	key string // decoded
	val []byte // the raw value, a slice of the document
}

// object is the members of a JSON object in document order, without
// duplicates.
type object []member

// parseObject splits the object raw into its members. raw must be valid
// JSON (part of a document rawjson.Validate accepted); on other input it
// fails or returns nonsense, but never panics or loops.
func parseObject(raw []byte) (object, error) {
	return parseObjectInto(raw, nil)
}

// parseObjectInto is parseObject appending to o[:0], for a caller that
// parses many objects with one scratch slice and keeps copies.
func parseObjectInto(raw []byte, o object) (object, error) {
	o = o[:0]
	var index map[string]int // built once objects grow large
	err := rawjson.Members(raw, knownKeys, func(key string, v []byte) {
		if index == nil && len(o) < 16 {
			for j := range o {
				if o[j].key == key {
					o[j].val = v
					return
				}
			}
			o = append(o, member{key, v})
			return
		}
		if index == nil {
			index = make(map[string]int, 2*len(o))
			for j := range o {
				index[o[j].key] = j
			}
		}
		if j, ok := index[key]; ok {
			o[j].val = v
			return
		}
		index[key] = len(o)
		o = append(o, member{key, v})
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// knownKeys are the member names of npm packuments.
var knownKeys = rawjson.NewNames(`name version description keywords homepage bugs url email
	repository type author license main module types typings exports files bin man directories
	engines os cpu libc scripts preinstall install postinstall prepare prepublishOnly build test
	start lint dependencies devDependencies peerDependencies
	peerDependenciesMeta optionalDependencies bundleDependencies bundledDependencies
	acceptDependencies overrides funding deprecated gitHead readme readmeFilename
	_id _rev _nodeVersion _npmVersion _npmUser _hasShrinkwrap _npmOperationalInternal host tmp
	_resolved _integrity _from _shasum maintainers contributors publishConfig workspaces
	dist integrity shasum tarball fileCount unpackedSize signatures keyid sig attestations
	provenance predicateType npm-signature hasInstallScript gypfile sideEffects browser
	dist-tags latest next versions time created modified users _attachments`)

// get returns the value of the member named key.
func (o object) get(key string) ([]byte, bool) {
	for i := range o {
		if o[i].key == key {
			return o[i].val, true
		}
	}
	return nil, false
}

// str returns the member named key if it is a string.
func (o object) str(key string) (string, bool) {
	v, ok := o.get(key)
	if !ok {
		return "", false
	}
	return rawjson.String(v)
}

// appendMember appends "key":value, with a comma first unless b ends an
// opening brace.
func appendMember(b []byte, key string, val []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' {
		b = append(b, ',')
	}
	b = rawjson.AppendString(b, key)
	b = append(b, ':')
	return append(b, val...)
}

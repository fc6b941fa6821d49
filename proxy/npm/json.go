package npm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
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

var errSyntax = errors.New("unexpected JSON structure")

// validDocument checks a whole upstream document once; everything read
// from it afterwards is split without validating again. Invalid UTF-8 is
// refused: Node decodes it to U+FFFD, which could make two different names
// one.
func validDocument(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("not valid UTF-8")
	}
	if !json.Valid(body) {
		return json.Unmarshal(body, new(any)) // the decoder's error names the offset
	}
	return nil
}

// parseObject splits the object raw into its members. raw must be valid
// JSON (part of a document validDocument accepted); on other input it
// fails or returns nonsense, but never panics or loops.
func parseObject(raw []byte) (object, error) {
	return parseObjectInto(raw, nil)
}

// parseObjectInto is parseObject appending to o[:0], for a caller that
// parses many objects with one scratch slice and keeps copies.
func parseObjectInto(raw []byte, o object) (object, error) {
	o = o[:0]
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, fmt.Errorf("%s where an object is expected", describe(raw))
	}
	var index map[string]int // built once objects grow large
	add := func(key string, v []byte) {
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
	}
	if i = skipSpace(raw, i+1); i < len(raw) && raw[i] == '}' {
		return o, nil
	}
	for {
		end := skipString(raw, i)
		if end < 0 {
			return nil, errSyntax
		}
		key, ok := knownKeys[string(raw[i+1:end-1])] // no allocation
		if !ok {
			if key, ok = stringValue(raw[i:end]); !ok {
				return nil, errSyntax
			}
		}
		if i = skipSpace(raw, end); i >= len(raw) || raw[i] != ':' {
			return nil, errSyntax
		}
		i = skipSpace(raw, i+1)
		if end = skipValue(raw, i); end < 0 {
			return nil, errSyntax
		}
		add(key, raw[i:end:end])
		if i = skipSpace(raw, end); i >= len(raw) {
			return nil, errSyntax
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return o, nil
		default:
			return nil, errSyntax
		}
	}
}

// knownKeys are the member names of npm packuments, shared rather than
// allocated for each of the thousands of objects in a large packument.
// (A name written with escapes is not found here and is decoded.)
var knownKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range strings.Fields(`name version description keywords homepage bugs url email
		repository type author license main module types typings exports files bin man directories
		engines os cpu libc scripts dependencies devDependencies peerDependencies
		peerDependenciesMeta optionalDependencies bundleDependencies bundledDependencies
		acceptDependencies overrides funding deprecated gitHead readme readmeFilename
		_id _rev _nodeVersion _npmVersion _npmUser _hasShrinkwrap _npmOperationalInternal host tmp
		_resolved _integrity _from _shasum maintainers contributors publishConfig workspaces
		dist integrity shasum tarball fileCount unpackedSize signatures keyid sig attestations
		provenance predicateType npm-signature hasInstallScript gypfile sideEffects browser
		dist-tags latest next versions time created modified users _attachments`) {
		m[k] = k
	}
	return m
}()

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
	return stringValue(v)
}

// elements calls fn for each element of the array raw, in order.
func elements(raw []byte, fn func(v []byte) error) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return fmt.Errorf("%s where a list is expected", describe(raw))
	}
	if i = skipSpace(raw, i+1); i < len(raw) && raw[i] == ']' {
		return nil
	}
	for {
		end := skipValue(raw, i)
		if end < 0 {
			return errSyntax
		}
		if err := fn(raw[i:end:end]); err != nil {
			return err
		}
		if i = skipSpace(raw, end); i >= len(raw) {
			return errSyntax
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return nil
		default:
			return errSyntax
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i], or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); {
		// Most strings hold no escapes: find the next quote, then count
		// the backslashes before it.
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		i += q
		n := 0
		for j := i - 1; b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
// Counting brackets is enough, because the document is valid JSON.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				i-- // the loop's i++ lands after the string
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
scalar:
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			break scalar
		}
	}
	if i == start {
		return -1
	}
	return i
}

// jsonKind returns the first byte of a JSON value: '{', '[', '"', 't',
// 'f', 'n', a digit or '-'; 0 for nothing.
func jsonKind(raw []byte) byte {
	if i := skipSpace(raw, 0); i < len(raw) {
		return raw[i]
	}
	return 0
}

// stringValue returns the JSON string raw holds, or ok=false if raw is not
// a string.
func stringValue(raw []byte) (s string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	// Fast path: no escapes, the common case for everything sigil reads.
	if bytes.IndexByte(in, '\\') < 0 && bytes.IndexByte(in, '"') < 0 {
		return string(in), true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// describe names the JSON type of raw for a message, without echoing
// untrusted content.
func describe(raw []byte) string {
	switch jsonKind(raw) {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	}
	return "a number"
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s) // never fails for a string
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendMember appends "key":value, with a comma first unless b ends an
// opening brace.
func appendMember(b []byte, key string, val []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' {
		b = append(b, ',')
	}
	b = appendString(b, key)
	b = append(b, ':')
	return append(b, val...)
}

// quoteForLog bounds an untrusted string for a log line or a message.
func quoteForLog(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

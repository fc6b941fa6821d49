package composer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// object is a JSON object as Composer sees it after PHP's
// json_decode($s, true): members by key, the last of duplicate keys wins.
// Values stay raw bytes of the upstream document; nothing is re-encoded
// that sigil does not change.
type object map[string]json.RawMessage

// jsonKind returns the first byte of a JSON value after white space: '{',
// '[', '"', 't', 'f', 'n', a digit or '-'; 0 for empty input.
func jsonKind(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// isEmptyArray reports whether raw is "[]" (with any inner white space).
// PHP encodes an empty associative array as [], so Composer repositories
// write [] wherever an object is empty; sigil reads it as {}.
func isEmptyArray(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return false
	}
	return len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0
}

// parseDocument parses a whole document from the upstream as an object.
// It validates the JSON once; everything read from it afterwards is a
// slice of it, split without copying or validating again.
func parseDocument(body []byte) (object, error) {
	// PHP's json_decode refuses invalid UTF-8 where encoding/json would
	// quietly replace it, so such a document is broken for Composer.
	if !utf8.Valid(body) {
		return nil, errors.New("not valid UTF-8")
	}
	if !json.Valid(body) {
		return nil, json.Unmarshal(body, new(any)) // the decoder's error names the offset
	}
	return parseObject(body)
}

// parseObject parses raw as a JSON object, or [] as an empty one. raw must
// be valid JSON (a part of a document parseDocument accepted); on other
// input it fails or returns nonsense, but never panics or loops.
func parseObject(raw []byte) (object, error) {
	switch jsonKind(raw) {
	case '{':
		o := object{}
		if err := members(raw, func(key string, v []byte) { o[key] = v }); err != nil {
			return nil, err
		}
		return o, nil
	case '[':
		if isEmptyArray(raw) {
			return object{}, nil
		}
	}
	return nil, fmt.Errorf("%s where an object is expected", describe(raw))
}

// parseValues returns the elements of a JSON array, or the member values of
// a JSON object in document order (PHP's foreach over a decoded array
// visits them in that order; a duplicate key keeps its first position and
// its last value, as in a PHP array). raw must be valid JSON.
func parseValues(raw []byte) ([]json.RawMessage, error) {
	switch jsonKind(raw) {
	case '[':
		var list []json.RawMessage
		err := elements(raw, func(v []byte) { list = append(list, v) })
		return list, err
	case '{':
		var vals []json.RawMessage
		index := map[string]int{}
		err := members(raw, func(key string, v []byte) {
			if i, ok := index[key]; ok {
				vals[i] = v
				return
			}
			index[key] = len(vals)
			vals = append(vals, v)
		})
		return vals, err
	}
	return nil, fmt.Errorf("%s where a list is expected", describe(raw))
}

var errSyntax = errors.New("unexpected JSON structure")

// knownKeys are the member names of Composer metadata, shared rather than
// allocated for each of the thousands of objects in a large document.
var knownKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range strings.Fields(`name version version_normalized description keywords
		homepage license authors email role source dist type url reference shasum mirrors
		time autoload autoload-dev psr-4 psr-0 classmap files exclude-from-classmap extra
		branch-alias require require-dev conflict replace provide suggest support issues
		forum wiki irc docs chat rss security funding bin include-path target-dir
		notification-url default-branch abandoned archive scripts config minimum-stability
		transport-options packages minified security-advisories warnings infos message
		versions advisoryId affectedVersions php`) {
		m[k] = k
	}
	return m
}()

// members calls fn for each member of the object raw, in order, with the
// value as a slice of raw.
func members(raw []byte, fn func(key string, v []byte)) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return errSyntax
	}
	if i = skipSpace(raw, i+1); i < len(raw) && raw[i] == '}' {
		return nil
	}
	for {
		end := skipString(raw, i)
		if end < 0 {
			return errSyntax
		}
		key, ok := knownKeys[string(raw[i+1:end-1])] // no allocation
		if !ok {
			if key, ok = stringValue(raw[i:end]); !ok {
				return errSyntax
			}
		}
		if i = skipSpace(raw, end); i >= len(raw) || raw[i] != ':' {
			return errSyntax
		}
		i = skipSpace(raw, i+1)
		if end = skipValue(raw, i); end < 0 {
			return errSyntax
		}
		fn(key, raw[i:end:end])
		if i = skipSpace(raw, end); i >= len(raw) {
			return errSyntax
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return nil
		default:
			return errSyntax
		}
	}
}

// elements calls fn for each element of the array raw, in order.
func elements(raw []byte, fn func(v []byte)) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return errSyntax
	}
	if i = skipSpace(raw, i+1); i < len(raw) && raw[i] == ']' {
		return nil
	}
	for {
		end := skipValue(raw, i)
		if end < 0 {
			return errSyntax
		}
		fn(raw[i:end:end])
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

// skipString returns the index after the string starting at b[i], or -1
// if there is none.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); {
		// Most strings hold no escapes: find the next quote fast, then
		// count the backslashes before it.
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

// stringValue returns the JSON string raw holds, or ok=false if raw is not
// a string.
func stringValue(raw []byte) (s string, ok bool) {
	if jsonKind(raw) != '"' {
		return "", false
	}
	raw = bytes.TrimSpace(raw)
	// Fast path: no escapes, the common case for every field sigil reads.
	if bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 && bytes.IndexByte(raw[1:len(raw)-1], '"') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// stringMember returns o[key] if it is a JSON string.
func (o object) stringMember(key string) (string, bool) {
	raw, ok := o[key]
	if !ok {
		return "", false
	}
	return stringValue(raw)
}

// unsetMarker is the value composer/2.0 minified metadata uses for a key
// that the previous version had and this one lacks.
const unsetMarker = "__unset"

func isUnset(raw []byte) bool {
	if len(raw) < len(unsetMarker)+2 || jsonKind(raw) != '"' {
		return false
	}
	s, ok := stringValue(raw)
	return ok && s == unsetMarker
}

// expand undoes the composer/2.0 minification of one package's version
// list, exactly as Composer's MetadataMinifier::expand does: the first
// version is complete; each later one lists only the keys that changed
// from the version before it, with "__unset" for a key that went away.
// The merge is shallow: a changed key replaces the whole value.
//
// One PHP detail matters for exactness: the running state is "empty" both
// before the first version and after every key was unset, and an empty
// state takes the next entry whole, "__unset" values included. Clients
// see what Composer's expand yields, so sigil must check the same thing.
func expand(versions []object) []object {
	out := make([]object, 0, len(versions))
	var cur object
	for _, v := range versions {
		if len(cur) == 0 {
			cur = v
			out = append(out, cur)
			continue
		}
		next := make(object, len(cur)+len(v))
		for k, val := range cur {
			next[k] = val
		}
		for k, val := range v {
			if isUnset(val) {
				delete(next, k)
			} else {
				next[k] = val
			}
		}
		cur = next
		out = append(out, cur)
	}
	return out
}

// describe names the JSON type of raw for error messages, without echoing
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

// appendString appends s as a JSON string. Keys and values sigil writes
// are mostly plain ASCII; those go straight through.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // never fails for a string
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendObject appends o with its keys sorted, so that equal objects
// encode to equal bytes and the served document (and its ETag) is a
// function of its content.
func appendObject(b []byte, o object) []byte {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = append(b, bytes.TrimSpace(o[k])...)
	}
	return append(b, '}')
}

// quoteForLog bounds an untrusted string for a log line or message.
func quoteForLog(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

package composer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// object is a JSON object as Composer sees it after PHP's
// json_decode($s, true): members by key, the last of duplicate keys wins.
// Values stay raw bytes of the upstream document; nothing is re-encoded
// that sigil does not change.
type object map[string]json.RawMessage

// member is one member of an object.
type member struct {
	key string
	val json.RawMessage
}

func byKey(a, b member) int { return strings.Compare(a.key, b.key) }

// parseMembers is parseObject for a version object: its members sorted by
// key, the last of duplicate keys winning, without building a map.
func parseMembers(raw []byte) ([]member, error) {
	if isEmptyArray(raw) {
		return nil, nil
	}
	var ms []member
	if err := rawjson.Members(raw, knownKeys, func(key string, v []byte) { ms = append(ms, member{key, v}) }); err != nil {
		return nil, err
	}
	slices.SortStableFunc(ms, byKey)
	out := ms[:0]
	for i := range ms {
		if i+1 < len(ms) && ms[i+1].key == ms[i].key {
			continue // a later one wins
		}
		out = append(out, ms[i])
	}
	return out, nil
}

// lookup returns the value of key in ms, sorted by key.
func lookup(ms []member, key string) (json.RawMessage, bool) {
	i, ok := slices.BinarySearchFunc(ms, key, func(m member, k string) int { return strings.Compare(m.key, k) })
	if !ok {
		return nil, false
	}
	return ms[i].val, true
}

// lookupString returns the value of key in ms if it is a JSON string.
func lookupString(ms []member, key string) (string, bool) {
	raw, ok := lookup(ms, key)
	if !ok {
		return "", false
	}
	return rawjson.String(raw)
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
	if err := rawjson.Validate(body); err != nil {
		return nil, err
	}
	return parseObject(body)
}

// parseObject parses raw as a JSON object, or [] as an empty one. raw must
// be valid JSON (a part of a document parseDocument accepted); on other
// input it fails or returns nonsense, but never panics or loops.
func parseObject(raw []byte) (object, error) {
	if isEmptyArray(raw) {
		return object{}, nil
	}
	o := object{}
	if err := rawjson.Members(raw, knownKeys, func(key string, v []byte) { o[key] = v }); err != nil {
		return nil, err
	}
	return o, nil
}

// parseValues returns the elements of a JSON array, or the member values of
// a JSON object in document order (PHP's foreach over a decoded array
// visits them in that order; a duplicate key keeps its first position and
// its last value, as in a PHP array). raw must be valid JSON.
func parseValues(raw []byte) ([]json.RawMessage, error) {
	switch rawjson.Kind(raw) {
	case '[':
		var list []json.RawMessage
		err := rawjson.Elements(raw, func(v []byte) error {
			list = append(list, v)
			return nil
		})
		return list, err
	case '{':
		var vals []json.RawMessage
		index := map[string]int{}
		err := rawjson.Members(raw, knownKeys, func(key string, v []byte) {
			if i, ok := index[key]; ok {
				vals[i] = v
				return
			}
			index[key] = len(vals)
			vals = append(vals, v)
		})
		return vals, err
	}
	return nil, fmt.Errorf("%s where a list is expected", rawjson.Describe(raw))
}

// knownKeys are the member names of Composer metadata.
var knownKeys = rawjson.NewNames(`name version version_normalized description keywords
	homepage license authors email role source dist type url reference shasum mirrors
	time autoload autoload-dev psr-4 psr-0 classmap files exclude-from-classmap extra
	branch-alias require require-dev conflict replace provide suggest support issues
	forum wiki irc docs chat rss security funding bin include-path target-dir
	notification-url default-branch abandoned archive scripts config minimum-stability
	transport-options packages minified security-advisories warnings infos message
	versions advisoryId affectedVersions php filter`)

// stringMember returns o[key] if it is a JSON string.
func (o object) stringMember(key string) (string, bool) {
	raw, ok := o[key]
	if !ok {
		return "", false
	}
	return rawjson.String(raw)
}

// unsetMarker is the value composer/2.0 minified metadata uses for a key
// that the previous version had and this one lacks.
const unsetMarker = "__unset"

func isUnset(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if string(raw) == `"`+unsetMarker+`"` {
		return true
	}
	if len(raw) < len(unsetMarker)+2 || rawjson.Kind(raw) != '"' || bytes.IndexByte(raw, '\\') < 0 {
		return false
	}
	s, ok := rawjson.String(raw) // written with escapes
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
//
// Versions come, and go, as members sorted by key, so each step is one
// merge of the running state with the changes.
func expand(versions [][]member) [][]member {
	out := make([][]member, 0, len(versions))
	var cur []member
	for _, v := range versions {
		if len(cur) == 0 {
			cur = v
		} else {
			cur = applyChanges(cur, v)
		}
		out = append(out, cur)
	}
	return out
}

// applyChanges returns cur with the members of changes: each replaces
// cur's of its key, or removes it when it is "__unset".
func applyChanges(cur, changes []member) []member {
	next := make([]member, 0, len(cur)+len(changes))
	i, j := 0, 0
	for i < len(cur) || j < len(changes) {
		switch {
		case j == len(changes) || i < len(cur) && cur[i].key < changes[j].key:
			next = append(next, cur[i])
			i++
			continue
		case i < len(cur) && cur[i].key == changes[j].key:
			i++ // replaced or removed
		}
		if !isUnset(changes[j].val) {
			next = append(next, changes[j])
		}
		j++
	}
	return next
}

// appendObject appends o with its keys sorted.
func appendObject(b []byte, o object) []byte {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	return appendSorted(b, keys, func(b []byte, k string) []byte {
		return append(b, bytes.TrimSpace(o[k])...)
	})
}

// appendSorted appends the object of the members named keys, in sorted
// order (it sorts keys), each value appended by value. Every object sigil
// writes has its keys sorted, so that equal objects encode to equal bytes
// and the served document (and its ETag) is a function of its content.
func appendSorted(b []byte, keys []string, value func(b []byte, key string) []byte) []byte {
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = rawjson.AppendStringHTML(b, k)
		b = append(b, ':')
		b = value(b, k)
	}
	return append(b, '}')
}

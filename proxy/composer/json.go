package composer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
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

// parseObject parses raw as a JSON object, or [] as an empty one.
func parseObject(raw []byte) (object, error) {
	switch jsonKind(raw) {
	case '{':
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
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
// its last value, as in a PHP array).
func parseValues(raw []byte) ([]json.RawMessage, error) {
	switch jsonKind(raw) {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		return list, nil
	case '{':
		return orderedValues(raw)
	}
	return nil, fmt.Errorf("%s where a list is expected", describe(raw))
}

func orderedValues(raw []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	var vals []json.RawMessage
	index := map[string]int{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if i, ok := index[key]; ok {
			vals[i] = v
			continue
		}
		index[key] = len(vals)
		vals = append(vals, v)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return vals, nil
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

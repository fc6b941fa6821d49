package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

var errSyntax = errors.New("unexpected JSON structure")

// Validate checks a whole upstream document: valid UTF-8 and valid JSON.
// Everything read from it afterwards is split without validating again.
func Validate(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("not valid UTF-8")
	}
	if !json.Valid(body) {
		return json.Unmarshal(body, new(any)) // the decoder's error names the offset
	}
	return nil
}

// Names are the member names of an ecosystem's documents, interned: a
// member whose name is one of them gets the shared string rather than a
// new one for each of the thousands of objects in a large document. A name
// written with escapes is not found here and is decoded. A nil Names
// interns nothing.
type Names map[string]string

// NewNames interns the white-space separated names in list.
func NewNames(list string) Names {
	n := Names{}
	for _, k := range strings.Fields(list) {
		n[k] = k
	}
	return n
}

// Members calls fn for each member of the object raw, in order and with
// duplicates, with the decoded name and the value as a slice of raw. raw
// must be valid JSON (a part of a document Validate accepted); on other
// input Members fails or calls fn with nonsense, but never panics or
// loops.
func Members(raw []byte, names Names, fn func(key string, val []byte)) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return fmt.Errorf("%s where an object is expected", Describe(raw))
	}
	if i = skipSpace(raw, i+1); i < len(raw) && raw[i] == '}' {
		return nil
	}
	for {
		end := skipString(raw, i)
		if end < 0 {
			return errSyntax
		}
		key, ok := names[string(raw[i+1:end-1])] // no allocation
		if !ok {
			if key, ok = String(raw[i:end]); !ok {
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

// Elements calls fn for each element of the array raw, in order, and
// stops at the first error fn returns. raw must be valid JSON, as for
// Members.
func Elements(raw []byte, fn func(val []byte) error) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return fmt.Errorf("%s where a list is expected", Describe(raw))
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

// Kind returns the first byte of a JSON value after white space: '{',
// '[', '"', 't', 'f', 'n', a digit or '-'; 0 for nothing.
func Kind(raw []byte) byte {
	if i := skipSpace(raw, 0); i < len(raw) {
		return raw[i]
	}
	return 0
}

// String returns the JSON string raw holds, or ok=false if raw is not a
// string.
func String(raw []byte) (s string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	// Fast path: no escapes, the common case for every field sigil reads.
	if bytes.IndexByte(in, '\\') < 0 && bytes.IndexByte(in, '"') < 0 {
		return string(in), true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// Describe names the JSON type of raw for a message, without echoing
// untrusted content.
func Describe(raw []byte) string {
	switch Kind(raw) {
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

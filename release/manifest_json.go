package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/gowebpki/jcs"
)

// manifestField returns top[name], nil when it is absent or null, and refuses the
// "__unset" marker of minified Composer metadata, which must be expanded
// before a digest means anything.
func manifestField(top map[string]json.RawMessage, name string) (json.RawMessage, error) {
	raw := bytes.TrimSpace(top[name])
	if isNull(raw) {
		return nil, nil
	}
	if string(raw) == `"__unset"` {
		return nil, fmt.Errorf("%w: %s is \"__unset\": expand minified Composer metadata first", ErrManifest, name)
	}
	return raw, nil
}

// stringField returns a field that must be a string, "" when absent.
func stringField(top map[string]json.RawMessage, name string) (string, error) {
	raw, err := manifestField(top, name)
	if err != nil || raw == nil {
		return "", err
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%w: %s must be a string, not %s", ErrManifest, name, jsonKind(raw))
	}
	if hasControl(s) {
		return "", fmt.Errorf("%w: %s: control character", ErrManifest, name)
	}
	return s, nil
}

// stringList returns a field that must be an array of strings, nil when
// absent or empty.
func stringList(top map[string]json.RawMessage, name string) ([]string, error) {
	raw, err := manifestField(top, name)
	if err != nil || raw == nil {
		return nil, err
	}
	var list []string
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, fmt.Errorf("%w: %s must be an array of strings", ErrManifest, name)
	}
	for _, s := range list {
		if hasControl(s) {
			return nil, fmt.Errorf("%w: %s: control character", ErrManifest, name)
		}
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}

// freeJSON returns a field of any JSON type as its canonical JSON, nil when
// absent, null or empty ("", [], {}), and refuses what jcs refuses
// (duplicate names, lone surrogates).
func freeJSON(top map[string]json.RawMessage, name string) (json.RawMessage, error) {
	raw, err := manifestField(top, name)
	if err != nil || raw == nil {
		return nil, err
	}
	c, err := canonicalJSON(name, raw)
	if err != nil {
		return nil, err
	}
	switch string(c) {
	case `""`, `[]`, `{}`:
		return nil, nil
	}
	return c, nil
}

func canonicalJSON(name string, raw []byte) (json.RawMessage, error) {
	c, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrManifest, name, err)
	}
	return c, nil
}

// phpCanonical returns a Composer field that must be an object (or PHP's
// empty array) as PHP would write it back after reading it as an array:
// json_decode($s, true) then json_encode. PHP has one type for lists and
// maps, so an empty object is written [], and an object whose names are
// "0", "1", ... in order is written as a list; Composer cannot tell the
// forms apart, and Packagist writes them back that way. Nil when absent or
// empty. Duplicate names are refused (PHP keeps the last; a signer could
// not say which one it meant).
func phpCanonical(name string, raw json.RawMessage) (json.RawMessage, error) {
	raw, err := manifestField(map[string]json.RawMessage{name: raw}, name)
	if err != nil || raw == nil {
		return nil, err
	}
	if raw[0] != '{' && raw[0] != '[' {
		return nil, fmt.Errorf("%w: %s must be an object, not %s", ErrManifest, name, jsonKind(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := phpValue(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrManifest, name, err)
	}
	if list, ok := v.([]any); ok && len(list) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrManifest, name, err)
	}
	return canonicalJSON(name, buf.Bytes())
}

// maxDepth bounds nesting, as PHP's json_decode does (512).
const maxDepth = 512

// phpKV is one member of an object in document order.
type phpKV struct {
	k string
	v any
}

// phpMap is an object that marshals with its members (json then sorts
// nothing; jcs orders them afterwards).
type phpMap []phpKV

func (m phpMap) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, kv := range m {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(kv.k)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		v, err := json.Marshal(kv.v)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func phpValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('['):
		list := []any{}
		for dec.More() {
			v, err := phpValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.Token()
		return list, err
	case json.Delim('{'):
		var m phpMap
		seen := map[string]bool{}
		isList := true
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			if seen[k] {
				return nil, fmt.Errorf("%s appears twice", quoteEntry(k))
			}
			seen[k] = true
			v, err := phpValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			isList = isList && k == strconv.Itoa(len(m))
			m = append(m, phpKV{k, v})
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		if isList {
			list := make([]any, len(m))
			for i, kv := range m {
				list[i] = kv.v
			}
			return list, nil
		}
		return m, nil
	}
	return tok, nil
}

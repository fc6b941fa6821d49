package rawjson

import "encoding/json"

// The two encoders differ only in what they let through unescaped. Each
// front keeps to its one, because served bytes are hashed into the
// document's ETag: changing an encoder would change every validator a
// client holds.

// AppendString appends s as a JSON string. Printable ASCII other than
// '"' and '\\' goes straight through; a string with anything else is
// written as encoding/json writes it.
func AppendString(b []byte, s string) []byte { return appendString(b, s, false) }

// AppendStringHTML appends s exactly as encoding/json writes it, which
// also escapes '<', '>' and '&'. Plain ASCII goes straight through.
func AppendStringHTML(b []byte, s string) []byte { return appendString(b, s, true) }

func appendString(b []byte, s string, html bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || html && (c == '<' || c == '>' || c == '&') {
			q, _ := json.Marshal(s) // never fails for a string
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

package rawjson

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzSplit checks the splitter against encoding/json: Validate accepts
// exactly the valid UTF-8 encoding/json accepts, and on any valid object
// or array Members and Elements find the same members and elements, in
// the same order, with the same values. On anything else they must not
// panic or loop.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x\"}","c":{"d":[1,{"e":"]"}]},"a":2}`,
		`{"k\\":"\\\\","":[],"u":"\u00e9\\\"","n":null,"t":true,"f":-1.5e3}`,
		` { "x" : [ ] , "y" : { } } `,
		`[]`, `[1,"a",[{}],{"b":[]}]`, `{"name":"x","n\u0061me":"y"}`, `{"a":1,}`, "\"\xff\"",
	} {
		f.Add([]byte(s))
	}
	names := NewNames("a b name")
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := Validate(raw)
		if valid := json.Valid(raw) && utf8.Valid(raw); (err == nil) != valid {
			t.Fatalf("%q: Validate %v, encoding/json and utf8 say valid=%v", raw, err, valid)
		}
		if err != nil {
			// Not valid: only no panic, no loop.
			_ = Members(raw, names, func(string, []byte) {})
			_ = Elements(raw, func([]byte) error { return nil })
			return
		}
		switch Kind(raw) {
		case '{':
			want := decodeMembers(t, raw)
			var got [][2]string
			if err := Members(raw, names, func(k string, v []byte) { got = append(got, [2]string{k, compact(t, v)}) }); err != nil {
				t.Fatalf("%q: %v", raw, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%q: %d members, encoding/json %d", raw, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%q: member %d = %q, encoding/json %q", raw, i, got[i], want[i])
				}
			}
		case '[':
			var want []json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := Elements(raw, func(v []byte) error { got = append(got, compact(t, v)); return nil }); err != nil {
				t.Fatalf("%q: %v", raw, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%q: %d elements, encoding/json %d", raw, len(got), len(want))
			}
			for i := range want {
				if got[i] != compact(t, want[i]) {
					t.Fatalf("%q: element %d = %q, encoding/json %q", raw, i, got[i], want[i])
				}
			}
		case '"':
			var want string
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if got, ok := String(raw); !ok || got != want {
				t.Fatalf("%q: String %q %v, encoding/json %q", raw, got, ok, want)
			}
		}
	})
}

// decodeMembers lists the members of a valid object with encoding/json's
// tokenizer: names decoded, values compacted, in order, with duplicates.
func decodeMembers(t *testing.T, raw []byte) [][2]string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	if _, err := d.Token(); err != nil { // {
		t.Fatal(err)
	}
	var out [][2]string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{k.(string), compact(t, v)})
	}
	return out
}

func compact(t *testing.T, v []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		t.Fatalf("%q: %v", v, err)
	}
	return b.String()
}

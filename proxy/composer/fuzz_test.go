package composer

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// FuzzExpand feeds arbitrary upstream p2 documents to the parser. It must
// never panic, and whatever it accepts must survive sigil's own encoding:
// the served list, read back the way Composer reads it (expanding it when
// it is minified), is exactly the list sigil decided on.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		`{"packages":{"acme/foo":[{"name":"acme/foo","version":"2.0.0","require":{"php":">=8"}},{"version":"1.0.0","require":"__unset"}]},"minified":"composer/2.0"}`,
		`{"packages":{"acme/foo":[[],{"name":"acme/foo","version":"1","x":"__unset"},{"version":"0","x":"__unset"}]},"minified":"composer/2.0"}`,
		`{"packages":{"acme/foo":{"a":{"name":"acme/foo","version":"1"},"a":{"name":"acme/foo","version":"2"}}}}`,
		`{"packages":{"acme/foo":[{"name":"acme/foo","version":"2","d":"x"},{"name":"acme/foo","version":"1","d":"__unset"}]}}`,
		`{"packages":[],"security-advisories":[]}`,
		`{"packages":{"acme/foo":[{"name":"acme/foo","version":"1","dist":{"type":"zip","url":"https://a.test/x","reference":"r"},"source":{"reference":"r","mirrors":[]}}]},"minified":"composer/2.0"}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseP2(body, "acme/foo")
		if err != nil {
			return
		}
		vs := make([]served, len(d.entries))
		for i, e := range d.entries {
			vs[i] = served{members: e.members}
			if e.problem == "" {
				if v, _ := objectOf(e.members).stringMember("version"); v != e.facts.Version || v == "" {
					t.Fatalf("facts version %q, entry says %q", e.facts.Version, v)
				}
			}
		}
		d.present = true
		out := appendP2(nil, d, vs, nil)
		if !json.Valid(out) {
			t.Fatalf("served invalid JSON: %s", out)
		}
		back, err := parseP2(out, "acme/foo")
		if err != nil {
			t.Fatalf("served document does not parse: %v\n%s", err, out)
		}
		if len(back.entries) != len(vs) {
			t.Fatalf("%d versions back, served %d\n%s", len(back.entries), len(vs), out)
		}
		for i := range vs {
			a, b := appendServed(nil, &vs[i]), appendObject(nil, objectOf(back.entries[i].members))
			if !bytes.Equal(a, b) {
				t.Fatalf("version %d changed on the way:\nserved %s\n  read %s\ndoc %s", i, a, b, out)
			}
		}
	})
}

// FuzzSplit checks parseDocument, Composer's view of a document split by
// rawjson (whose own target checks the splitter), against encoding/json:
// on any valid JSON object it finds the same members with the same values,
// the last of duplicate keys winning, as in PHP.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[],"a":{"c":2}}`,
		`{"packages":{"acme/foo":[]},"minified":"composer/2.0","n\u0061me":"x","name":"y"}`,
		` [ ] `, `[1]`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := parseDocument(raw)
		var want map[string]json.RawMessage
		werr := json.Unmarshal(raw, &want)
		if err != nil {
			// sigil is stricter than encoding/json only on invalid UTF-8,
			// and reads only objects (or []).
			if werr == nil && rawjson.Kind(raw) == '{' && utf8.Valid(raw) {
				t.Fatalf("refused %q: %v", raw, err)
			}
			return
		}
		if rawjson.Kind(raw) == '[' {
			return // PHP's [] as {}
		}
		if werr != nil || len(got) != len(want) {
			t.Fatalf("%q: got %d members, encoding/json %d (%v)", raw, len(got), len(want), werr)
		}
		for k, v := range want {
			var a, b bytes.Buffer
			_ = json.Compact(&a, v)
			if err := json.Compact(&b, got[k]); err != nil || a.String() != b.String() {
				t.Fatalf("%q: member %q = %q, encoding/json %q", raw, k, got[k], v)
			}
		}
	})
}

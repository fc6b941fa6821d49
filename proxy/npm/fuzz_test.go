package npm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// FuzzPackument feeds arbitrary upstream packuments to the parser and the
// writer. It must never panic, and whatever it accepts must come out as
// JSON that reads back (as npm and sigil read it) with exactly the
// versions sigil decided to serve, each with its members as the upstream
// wrote them, dist.tarball apart.
func FuzzPackument(f *testing.F) {
	for _, s := range []string{
		string(fooDoc()),
		`{"name":"foo","versions":{"1.0.0":{"name":"foo","version":"1.0.0","dist":{"tarball":"https://u.test/a.tgz","integrity":"sha512-\u0041"}},"1.0.\u0030":{"name":"foo","version":"1.0.0","dist":{"tarball":"https://u.test/b.tgz"}}},"dist-tags":{"latest":"1.0.0"}}`,
		`{"name":"foo","versions":{"\ud800":{"name":"foo","version":"\udbff","dist":{"tarball":"http://u.test/x"}}},"time":{"\ud800":"x"}}`,
		`{"name":"foo","versions":null,"dist-tags":{"a":1},"time":[]}`,
		`{"versions":{"1.0.0":{"name":"foo","version":"1.0.0","dist":{"tarball":"http://u.test/x","signatures":[{"keyid":"k","sig":"AA=="}]},"scripts":{"install":"x"}}}}`,
		`{}`, `[]`, `{"name":"foo","versions":{"1.0.0":[]}}`,
	} {
		f.Add([]byte(s))
	}
	h := &Handler{prefix: "/npm"}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parsePackument(body, "foo")
		if err != nil {
			return
		}
		// Serve every other good version; block the rest.
		ds := make([]decided, len(p.versions))
		dropped := map[string]bool{}
		want := map[string]*version{}
		for i := range p.versions {
			v := &p.versions[i]
			if v.problem == "" && i%2 == 0 {
				ds[i] = decided{served: true}
				want[v.key] = v
			} else {
				ds[i] = decided{reason: "foo@x: blocked"}
				dropped[v.key] = true
			}
		}
		w := writer{h: h, p: p, ds: ds, base: "http://127.0.0.1:1", dropped: dropped}
		for _, abbreviated := range []bool{false, true} {
			var out []byte
			if abbreviated {
				out = w.abbreviated(nil)
			} else {
				out = w.full(nil)
			}
			var generic map[string]any
			if err := json.Unmarshal(out, &generic); err != nil {
				t.Fatalf("served invalid JSON (abbreviated=%v): %v\n%s", abbreviated, err, out)
			}
			back, err := parsePackument(out, "foo")
			if err != nil {
				t.Fatalf("served packument does not parse: %v\n%s", err, out)
			}
			if len(back.versions) != len(want) {
				t.Fatalf("%d versions back, served %d\n%s", len(back.versions), len(want), out)
			}
			for i := range back.versions {
				b := &back.versions[i]
				v, ok := want[b.key]
				if !ok || b.problem != "" {
					t.Fatalf("version %q back (problem %q), not served as such\n%s", b.key, b.problem, out)
				}
				if b.facts.Version != v.facts.Version || b.facts.Manifest != v.facts.Manifest || b.facts.Integrity != v.facts.Integrity {
					t.Fatalf("facts changed on the way: %+v → %+v", v.facts, b.facts)
				}
				for _, m := range v.dist {
					got, _ := b.dist.get(m.key)
					if m.key != "tarball" && servedDist[m.key] && !bytes.Equal(got, m.val) {
						t.Fatalf("dist.%s changed: %s → %s", m.key, m.val, got)
					}
				}
				if abbreviated {
					continue
				}
				for _, m := range v.obj {
					got, ok := b.obj.get(m.key)
					if m.key != "dist" && servedMember(m.key, false) && !bytes.Equal(got, m.val) {
						t.Fatalf("%s changed: %s → %s", m.key, m.val, got)
					}
					if ok && m.key != "dist" && !servedMember(m.key, false) {
						t.Fatalf("%s served, although not in the allowlist", m.key)
					}
				}
			}
		}
	})
}

// FuzzSplit checks parseObject, npm's view of an object split by rawjson
// (whose own target checks the splitter), against encoding/json: on any
// valid JSON object it finds the same members with the same values, the
// last of duplicate names winning, as in JSON.parse.
func FuzzSplit(f *testing.F) {
	// More than 16 members switch parseObject to an index of names.
	var many []string
	for i := range 18 {
		many = append(many, fmt.Sprintf(`"k%d":%d`, i%17, i))
	}
	for _, s := range []string{
		`{"a":1,"b":2,"a":3}`,
		`{"\u0061":1,"a":[2],"b":{}}`,
		"{" + strings.Join(many, ",") + "}",
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if rawjson.Validate(raw) != nil || rawjson.Kind(raw) != '{' {
			return
		}
		got, err := parseObject(raw)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%q: encoding/json: %v", raw, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d members, encoding/json %d", raw, len(got), len(want))
		}
		for k, v := range want {
			var a, b bytes.Buffer
			gv, _ := got.get(k)
			_ = json.Compact(&a, v)
			if err := json.Compact(&b, gv); err != nil || a.String() != b.String() {
				t.Fatalf("%q: member %q = %q, encoding/json %q", raw, k, gv, v)
			}
		}
	})
}

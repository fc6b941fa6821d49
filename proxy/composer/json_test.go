package composer

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// minifyForTest writes versions the way an upstream publishing the
// composer/2.0 format does: each version after the first as the members
// that changed, "__unset" for those that went away.
func minifyForTest(versions []map[string]any) []map[string]any {
	out := make([]map[string]any, len(versions))
	for i, v := range versions {
		if i == 0 {
			out[i] = v
			continue
		}
		prev := versions[i-1]
		d := map[string]any{}
		for k, val := range v {
			if pv, ok := prev[k]; !ok || !jsonEqual(pv, val) {
				d[k] = val
			}
		}
		for k := range prev {
			if _, ok := v[k]; !ok {
				d[k] = "__unset"
			}
		}
		out[i] = d
	}
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// objectsToAny decodes parsed objects for comparison.
func objectsToAny(t testing.TB, vs []object) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(vs))
	for i, v := range vs {
		var m map[string]any
		if err := json.Unmarshal(appendObject(nil, v), &m); err != nil {
			t.Fatal(err)
		}
		out[i] = m
	}
	return out
}

// sortedMembers returns the members of o sorted by key.
func sortedMembers(o object) []member {
	ms := make([]member, 0, len(o))
	for k, v := range o {
		ms = append(ms, member{k, v})
	}
	slices.SortFunc(ms, byKey)
	return ms
}

// objectOf is the object of ms.
func objectOf(ms []member) object {
	o := object{}
	for _, m := range ms {
		o[m.key] = m.val
	}
	return o
}

func parseList(t testing.TB, s string) []object {
	t.Helper()
	items, err := parseValues([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]object, len(items))
	for i, it := range items {
		if out[i], err = parseObject(it); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{
			name: "inherit, replace, unset",
			in: `[{"name":"a/b","version":"2.0.0","license":["MIT"],"scripts":{"x":["y"]},"require":{"php":">=8"}},
			      {"version":"1.2.0","license":["GPL"],"homepage":"https://h.test","scripts":"__unset"},
			      {"version":"1.0.0","homepage":"__unset","require":[]}]`,
			want: `[{"name":"a/b","version":"2.0.0","license":["MIT"],"scripts":{"x":["y"]},"require":{"php":">=8"}},
			        {"name":"a/b","version":"1.2.0","license":["GPL"],"homepage":"https://h.test","require":{"php":">=8"}},
			        {"name":"a/b","version":"1.0.0","license":["GPL"],"require":[]}]`,
		},
		{
			// The merge is shallow: a changed map replaces the old one.
			name: "shallow",
			in:   `[{"name":"a/b","version":"2","require":{"x/y":"1","z/z":"2"}},{"version":"1","require":{"x/y":"2"}}]`,
			want: `[{"name":"a/b","version":"2","require":{"x/y":"1","z/z":"2"}},{"name":"a/b","version":"1","require":{"x/y":"2"}}]`,
		},
		{
			// PHP: an empty running state takes the next entry whole,
			// "__unset" values and all.
			name: "empty state",
			in:   `[[],{"name":"a/b","version":"1","x":"__unset"},{"version":"0","x":"__unset"}]`,
			want: `[{},{"name":"a/b","version":"1","x":"__unset"},{"name":"a/b","version":"0"}]`,
		},
		{
			name: "all unset then whole",
			in:   `[{"name":"a/b","version":"2"},{"name":"__unset","version":"__unset"},{"version":"1","y":"__unset"}]`,
			want: `[{"name":"a/b","version":"2"},{},{"version":"1","y":"__unset"}]`,
		},
		{
			name: "escaped marker",
			in:   `[{"name":"a/b","version":"2","x":1},{"version":"1","x":"\u005f_unset"}]`,
			want: `[{"name":"a/b","version":"2","x":1},{"name":"a/b","version":"1"}]`,
		},
		{
			name: "duplicate keys, last wins",
			in:   `[{"name":"a/b","version":"2","version":"3"}]`,
			want: `[{"name":"a/b","version":"3"}]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in [][]member
			for _, o := range parseList(t, tc.in) {
				in = append(in, sortedMembers(o))
			}
			var got []object
			for _, ms := range expand(in) {
				if !slices.IsSortedFunc(ms, byKey) {
					t.Errorf("expanded members out of order: %v", ms)
				}
				got = append(got, objectOf(ms))
			}
			want := objectsToAny(t, parseList(t, tc.want))
			if !reflect.DeepEqual(objectsToAny(t, got), want) {
				t.Errorf("expand:\n got %v\nwant %v", objectsToAny(t, got), want)
			}
		})
	}
}

func TestParseValuesObjectOrder(t *testing.T) {
	vals, err := parseValues([]byte(`{"b":1,"a":2,"b":3,"c":4}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vals {
		got = append(got, string(v))
	}
	if strings.Join(got, ",") != "3,2,4" {
		t.Errorf("values %v, want PHP order 3,2,4", got)
	}
}

func TestParseObjectPHPEmptyArray(t *testing.T) {
	for _, s := range []string{`[]`, ` [ ] `, "[\n]", `{}`} {
		o, err := parseObject([]byte(s))
		if err != nil || len(o) != 0 {
			t.Errorf("%q: %v %v", s, o, err)
		}
	}
	for _, s := range []string{`[1]`, `null`, `"x"`, `3`, ``, `[`} {
		if _, err := parseObject([]byte(s)); err == nil {
			t.Errorf("%q: accepted as an object", s)
		}
	}
}

// TestParseMembers: a version object read as sorted members is the object
// parseObject reads, PHP's [] and duplicate keys included.
func TestParseMembers(t *testing.T) {
	for _, s := range []string{`{"b":1,"a":2,"b":3,"c":{"d":4}}`, `[]`, ` [ ] `, `{}`, `{"x":"__unset","":null}`} {
		ms, err := parseMembers([]byte(s))
		o, oerr := parseObject([]byte(s))
		if err != nil || oerr != nil || !slices.IsSortedFunc(ms, byKey) || !reflect.DeepEqual(objectsToAny(t, []object{objectOf(ms)}), objectsToAny(t, []object{o})) {
			t.Errorf("%s: %v %v, parseObject %v %v", s, ms, err, o, oerr)
		}
	}
	for _, s := range []string{`[1]`, `null`, `"x"`, `3`, ``} {
		_, err := parseMembers([]byte(s))
		_, oerr := parseObject([]byte(s))
		if err == nil || oerr == nil || err.Error() != oerr.Error() {
			t.Errorf("%q: %v, parseObject %v", s, err, oerr)
		}
	}
}

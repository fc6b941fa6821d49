package rawjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type member struct{ key, val string }

func members(t *testing.T, s string) []member {
	t.Helper()
	var out []member
	if err := Members([]byte(s), NewNames("name version"), func(k string, v []byte) {
		out = append(out, member{k, string(v)})
	}); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return out
}

func TestMembersOrderAndDuplicates(t *testing.T) {
	got := members(t, ` { "b" : 1 , "a":{"x":[1,"]"]},"b":"3","n\u0061me":null, "":[] } `)
	want := []member{{"b", "1"}, {"a", `{"x":[1,"]"]}`}, {"b", `"3"`}, {"name", "null"}, {"", "[]"}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if got := members(t, `{}`); len(got) != 0 {
		t.Errorf("{}: %q", got)
	}
}

func TestMembersCapsValues(t *testing.T) {
	doc := []byte(`{"a":"x","b":"y"}`)
	err := Members(doc, nil, func(k string, v []byte) {
		if cap(v) != len(v) {
			t.Errorf("%s: value has room to grow into the document", k)
		}
		_ = append(v, '!')
	})
	if err != nil || string(doc) != `{"a":"x","b":"y"}` {
		t.Errorf("document changed: %s, %v", doc, err)
	}
}

func TestMembersNotAnObject(t *testing.T) {
	for s, want := range map[string]string{
		`[1]`: "a list where an object is expected", `"x"`: "a string where an object is expected",
		``: "nothing where an object is expected", `3`: "a number where an object is expected",
		`null`: "null where an object is expected", `true`: "a boolean where an object is expected",
	} {
		err := Members([]byte(s), nil, func(string, []byte) { t.Errorf("%q: a member", s) })
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", s, err, want)
		}
	}
	// Malformed input (never a part of a valid document) fails without
	// panicking.
	for _, s := range []string{`{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":"x}`} {
		if err := Members([]byte(s), nil, func(string, []byte) {}); err == nil {
			t.Errorf("%q: accepted", s)
		}
	}
}

func TestElements(t *testing.T) {
	var got []string
	err := Elements([]byte(` [ 1 , "a,]" , {"b":[2]} , [ ] ] `), func(v []byte) error {
		got = append(got, string(v))
		return nil
	})
	if err != nil || strings.Join(got, "|") != `1|"a,]"|{"b":[2]}|[ ]` {
		t.Errorf("got %q, %v", got, err)
	}
	stop := errors.New("stop")
	n := 0
	if err := Elements([]byte(`[1,2,3]`), func([]byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("fn's error: %v after %d", err, n)
	}
	if err := Elements([]byte(`{"a":1}`), func([]byte) error { return nil }); err == nil || err.Error() != "an object where a list is expected" {
		t.Errorf("object: %v", err)
	}
	for _, s := range []string{`[`, `[1`, `[1,`, `[1 2]`, `[,]`} {
		if err := Elements([]byte(s), func([]byte) error { return nil }); err == nil {
			t.Errorf("%q: accepted", s)
		}
	}
}

func TestString(t *testing.T) {
	for raw, want := range map[string]string{
		`"plain"`: "plain", ` "sp" `: "sp", `"q\"uote"`: `q"uote`, `"\u00e9\n"`: "é\n", `""`: "",
	} {
		if got, ok := String([]byte(raw)); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{`1`, `null`, `["x"]`, `"`, `"open`, `x"`, ``} {
		if got, ok := String([]byte(raw)); ok {
			t.Errorf("%s: %q accepted", raw, got)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Validate([]byte(`{"a":[1,2,{"b":null}]}`)); err != nil {
		t.Error(err)
	}
	if err := Validate([]byte("{\"a\":\"\xff\"}")); err == nil || err.Error() != "not valid UTF-8" {
		t.Errorf("invalid UTF-8: %v", err)
	}
	err := Validate([]byte(`{"secret":1,}`))
	var syn *json.SyntaxError
	if !errors.As(err, &syn) || strings.Contains(err.Error(), "secret") {
		t.Errorf("invalid JSON: %v: want a syntax error with an offset and no content", err)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", `q"uote`, "back\\slash", "ctl\x01", "<html>&", "ünï", "\u2028", "bad \xff", ""} {
		for name, enc := range map[string]func([]byte, string) []byte{"AppendString": AppendString, "AppendStringHTML": AppendStringHTML} {
			var back string
			if err := json.Unmarshal(enc(nil, s), &back); err != nil || (back != s && strings.ToValidUTF8(s, "\ufffd") != back) {
				t.Errorf("%s(%q): round trip %q %v", name, s, back, err)
			}
		}
		// AppendStringHTML is encoding/json's encoding, byte for byte.
		want, _ := json.Marshal(s)
		if got := AppendStringHTML(nil, s); string(got) != string(want) {
			t.Errorf("AppendStringHTML(%q) = %s, encoding/json %s", s, got, want)
		}
	}
	// AppendString lets HTML characters through in plain ASCII.
	if got := string(AppendString([]byte("x"), "<a&b>")); got != `x"<a&b>"` {
		t.Errorf("AppendString: %s", got)
	}
}

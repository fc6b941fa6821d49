package main

import "testing"

func TestFirstComposerRepository(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"main":{"type":"composer","url":"https://repo.example.test"}}`, "https://repo.example.test"},
		{`{"a":false,"b":{"type":"vcs","url":"x"},"c":{"type":"composer","url":"http://c.test"}}`, "http://c.test"},
		{`{"a":false}`, ""},
		{`not json`, ""},
		{`[]`, ""},
	} {
		if got := firstComposerRepository([]byte(c.in)); got != c.want {
			t.Errorf("firstComposerRepository(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

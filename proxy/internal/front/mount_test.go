package front

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestPrefix(t *testing.T) {
	for in, want := range map[string]string{"": "/def", "/": "", "/x": "/x", "/x/y": "/x/y"} {
		if got, err := Prefix(in, "/def"); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "/x/", "/x?y", "/x#y", "/x%2f"} {
		if got, err := Prefix(in, "/def"); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
	if p, ok := Path("/npm/foo", "/npm"); !ok || p != "/foo" {
		t.Errorf("Path: %q %v", p, ok)
	}
	for _, p := range []string{"/npmfoo", "/np", "/npm"} {
		if _, ok := Path(p, "/npm"); ok {
			t.Errorf("Path(%q) is under /npm", p)
		}
	}
}

func TestPublicURLAndBase(t *testing.T) {
	if u, err := PublicURL(""); u != nil || err != nil {
		t.Errorf("empty: %v %v", u, err)
	}
	u, err := PublicURL("https://sigil.test:8443/")
	if err != nil || u.String() != "https://sigil.test:8443" {
		t.Errorf("%v %v", u, err)
	}
	for _, s := range []string{"sigil.test", "ftp://sigil.test", "https://u@sigil.test", "https://sigil.test/x", "https://sigil.test?q", "https://sigil.test#f"} {
		if _, err := PublicURL(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	if b, ok := Base(u, r); !ok || b != "https://sigil.test:8443" {
		t.Errorf("public base: %q", b)
	}
	for host, want := range map[string]string{"127.0.0.1:8780": "http://127.0.0.1:8780", "[::1]:1": "http://[::1]:1", "a.test": "http://a.test", "a.test/x": "", "a b": "", "": ""} {
		r.Host = host
		if b, ok := Base(nil, r); b != want || ok != (want != "") {
			t.Errorf("Host %q: %q %v, want %q", host, b, ok, want)
		}
	}
	r.Host, r.TLS = "a.test", &tls.ConnectionState{}
	if b, _ := Base(nil, r); b != "https://a.test" {
		t.Errorf("TLS: %q", b)
	}
}

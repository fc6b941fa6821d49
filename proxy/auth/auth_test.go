package auth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func tokenFile(t *testing.T) (path, token string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "tokens")
	token, err := Add(path, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return path, token
}

func TestAddWritesHashesOnly(t *testing.T) {
	path, token := tokenFile(t)
	if !strings.HasPrefix(token, TokenPrefix) || len(token) != len(TokenPrefix)+43 {
		t.Errorf("token %q", token)
	}
	second, err := Add(path, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if second == token {
		t.Fatal("two tokens alike")
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), token) || strings.Contains(string(data), second) {
		t.Fatalf("the file holds a token:\n%s", data)
	}
	if !strings.Contains(string(data), Line("alice", token)) || !strings.Contains(string(data), Line("ci", second)) {
		t.Errorf("file:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Add(path, "alice"); !errors.Is(err, ErrNameTaken) {
		t.Errorf("second alice: %v", err)
	}
	for _, bad := range []string{"", "two words", "-x", strings.Repeat("a", 65), "a\nb"} {
		if _, err := Add(path, bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	g, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 2 {
		t.Errorf("%d tokens", g.Len())
	}
}

func TestParseFileRefusesBadLines(t *testing.T) {
	good := Line("a", "sigil_x")
	for name, content := range map[string]string{
		"a token in the file": "a sigil_abcdef",
		"missing hash":        "a",
		"short hash":          "a sha256:abcd",
		"other algorithm":     "a md5:" + strings.Repeat("0", 64),
		"duplicate name":      good + "\n" + good,
		"three fields":        good + " extra",
		"bad name":            "a/b sha256:" + strings.Repeat("0", 64),
	} {
		if _, err := parseFile([]byte(content)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	e, err := parseFile([]byte("# comment\n\n  " + good + "  \n"))
	if err != nil || len(e) != 1 || e[0].name != "a" {
		t.Errorf("%v %+v", err, e)
	}
	if _, err := parseFile([]byte("a sigil_abc")); err == nil || !strings.Contains(err.Error(), "not its hash") {
		t.Errorf("plaintext token: %v", err)
	}
}

func TestLoadRefusesEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	if _, err := Load(empty, nil); err == nil || !strings.Contains(err.Error(), "holds no token") {
		t.Errorf("empty: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none"), nil); err == nil {
		t.Error("missing file accepted")
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestHandler(t *testing.T) {
	path, token := tokenFile(t)
	g, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Write([]byte("through"))
	}), func(r *http.Request) bool { return r.URL.Path == "/-/healthz" })

	for _, tc := range []struct {
		name, method, target, header, value string
		status                              int
		body                                string
	}{
		{"no token", "GET", "/composer/packages.json", "", "", 401, "carried none"},
		{"wrong token", "GET", "/npm/foo", "Authorization", "Bearer " + token + "x", 401, "not valid"},
		{"bearer", "GET", "/npm/foo", "Authorization", "Bearer " + token, 200, "through"},
		{"bearer, any case", "GET", "/npm/foo", "Authorization", "bearer " + token, 200, "through"},
		{"basic, any user", "GET", "/composer/p2/a/b.json", "Authorization", basic("whoever", token), 200, "through"},
		{"basic, wrong password", "GET", "/composer/p2/a/b.json", "Authorization", basic(token, "x"), 401, "not valid"},
		{"malformed basic", "GET", "/composer/p2/a/b.json", "Authorization", "Basic !!!", 401, "carried none"},
		{"health check is open", "GET", "/-/healthz", "", "", 200, "through"},
		{"proxy request without token", "CONNECT", "registry.test:443", "", "", 407, "proxy URL"},
		{"proxy request with Authorization only", "GET", "http://registry.test/foo", "Authorization", "Bearer " + token, 407, "carried none"},
		{"proxy request with token", "CONNECT", "registry.test:443", "Proxy-Authorization", basic("me", token), 200, "through"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			r := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.method == "CONNECT" {
				r.URL.Host, r.URL.Path, r.RequestURI = tc.target, "", tc.target
				r.URL.Scheme = ""
			}
			if tc.header != "" {
				r.Header.Set(tc.header, tc.value)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
				t.Fatalf("%d %q, want %d and %q", w.Code, w.Body, tc.status, tc.body)
			}
			if strings.Contains(w.Body.String(), token) {
				t.Error("the answer echoes the token")
			}
			switch w.Code {
			case 401:
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			case 407:
				if w.Header().Get("Proxy-Authenticate") == "" {
					t.Error("407 without Proxy-Authenticate")
				}
			case 200:
				if tc.header != "" && seen.Get(tc.header) != "" {
					t.Errorf("%s passed on to the front", tc.header)
				}
			}
		})
	}
}

func TestGuardReadsTheFileAgain(t *testing.T) {
	path, token := tokenFile(t)
	g, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g.now = func() time.Time { return now }
	valid := func(tok string) bool { _, ok := match(g.current(), tok); return ok }

	second, err := Add(path, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if valid(second) {
		t.Error("file read again before recheckEvery")
	}
	now = now.Add(recheckEvery)
	// The new file may carry the same mtime granularity: force a change.
	os.Chtimes(path, now, now.Add(time.Second))
	if !valid(second) || !valid(token) {
		t.Fatal("a token added to the file is not in force")
	}

	// A broken file keeps the tokens read before.
	os.WriteFile(path, []byte("bob sigil_plaintext\n"), 0o600)
	os.Chtimes(path, now, now.Add(2*time.Second))
	now = now.Add(recheckEvery)
	if !valid(second) || !valid(token) {
		t.Fatal("a broken token file changed the tokens in force")
	}
}

func TestCredential(t *testing.T) {
	for v, want := range map[string]string{
		"Bearer abc":              "abc",
		"Bearer  abc ":            "abc",
		"Bearer":                  "",
		"Token abc":               "",
		basic("u", "p:q"):         "p:q",
		basic("", "p"):            "p",
		basic("u", ""):            "",
		"Basic " + "bm9jb2xvbg==": "", // "nocolon"
	} {
		h := http.Header{}
		h.Set("Authorization", v)
		got, ok := Credential(h, "Authorization")
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", v, got, ok, want)
		}
	}
}

func FuzzCredential(f *testing.F) {
	f.Add("Bearer sigil_abc")
	f.Add(basic("u", "sigil_abc"))
	f.Add("Basic ::::")
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Set("Authorization", v)
		tok, ok := Credential(h, "Authorization")
		if ok && tok == "" {
			t.Fatal("an empty token accepted")
		}
		entries := []entry{{name: "a", hash: [32]byte{}}}
		if _, m := match(entries, tok); m {
			t.Fatal("matched a hash nobody has the preimage of")
		}
	})
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(Line("a", "sigil_x") + "\n# c\n"))
	f.Add([]byte("a sha256:zz"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseFile(data)
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, e := range entries {
			if names[e.name] || !nameRE.MatchString(e.name) {
				t.Fatalf("entry %q accepted", e.name)
			}
			names[e.name] = true
		}
	})
}

// TestWritableFileRefused: whoever can write the token file can let
// themselves in, so a file that group or others may write is refused at
// start, and a change to one is not taken.
func TestWritableFileRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	path, token := tokenFile(t)
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), "writable by group or others") || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("Load of a world-writable file: %v", err)
	}

	os.Chmod(path, 0o600)
	g, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g.now = func() time.Time { return now }
	os.Chmod(path, 0o620)
	intruder := NewToken()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(Line("intruder", intruder) + "\n")
	f.Close()
	os.Chtimes(path, now, now.Add(time.Second))
	now = now.Add(recheckEvery)
	if _, ok := match(g.current(), intruder); ok {
		t.Error("a token added to a group-writable file was taken")
	}
	if _, ok := match(g.current(), token); !ok {
		t.Error("the tokens read before are no longer in force")
	}
}

package release

import (
	"strconv"
	"strings"
	"testing"
)

func TestKeyEventRoundTrip(t *testing.T) {
	_, vkey := testKey(t, "acme", "1")
	for _, text := range []string{
		lines(keyEventHeader, "ecosystem composer", "namespace acme", "action add", "key "+vkey),
		lines(keyEventHeader, "ecosystem composer", "namespace acme/foo", "action retire", "key "+vkey),
		lines(keyEventHeader, "ecosystem npm", "namespace @acme", "action revoke", "key "+vkey),
		lines(keyEventHeader, "ecosystem npm", "namespace left-pad", "action add", "key "+vkey),
	} {
		e, err := ParseKeyEvent([]byte(text))
		if err != nil {
			t.Errorf("ParseKeyEvent(%q): %v", text, err)
			continue
		}
		got, err := e.Text()
		if err != nil || string(got) != text {
			t.Errorf("round trip: got %q, %v; want %q", got, err, text)
		}
		v, err := ParseText([]byte(text))
		if _, ok := v.(*KeyEvent); !ok || err != nil {
			t.Errorf("ParseText(%q) = %T, %v; want *KeyEvent", text, v, err)
		}
	}
}

func TestParseKeyEventErrors(t *testing.T) {
	_, vkey := testKey(t, "acme", "1")
	h, eco, ns, act, key := keyEventHeader, "ecosystem composer", "namespace acme", "action add", "key "+vkey
	upper := strings.Replace(key, keyID(vkey), "acme+"+strings.ToUpper(keyID(vkey)[5:]), 1)
	skey, _ := testKey(t, "acme", "1")
	for _, tc := range []struct {
		name string
		text string
		line int
		bad  string
		want string
	}{
		{"header", lines("sigil-key/v0", eco), 1, "sigil-key/v0", "first line"},
		{"missing action", lines(h, eco, ns, key), 4, key, `missing "action"`},
		{"missing key", lines(h, eco, ns, act), 5, "", `missing "key"`},
		{"repeated", lines(h, eco, ns, ns, act, key), 4, ns, "repeated"},
		{"unknown", lines(h, eco, ns, act, key, "comment hi"), 6, "comment hi", "unknown key"},
		{"bad action", lines(h, eco, ns, "action delete", key), 4, "action delete", `unknown action "delete"`},
		{"bad namespace", lines(h, eco, "namespace Acme", act, key), 3, "namespace Acme", "namespace"},
		{"npm namespace", lines(h, "ecosystem npm", "namespace @", act, key), 3, "namespace @", "scope"},
		{"bad key", lines(h, eco, ns, act, "key acme+00000000+AAAA"), 5, "key acme+00000000+AAAA", "key:"},
		{"uppercase key hash", lines(h, eco, ns, act, upper), 5, upper, "lowercase hex"},
		{"secret key", lines(h, eco, ns, act, "key "+skey), 5, "", "signer (private) key"},
		{"trailing space", lines(h, eco, ns, act, key+" "), 5, "", "trailing white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseKeyEvent([]byte(tc.text))
			if err == nil {
				t.Fatalf("ParseKeyEvent succeeded: %+v", e)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if tc.line > 0 && !strings.Contains(msg, "line "+strconv.Itoa(tc.line)) {
				t.Errorf("error %q does not name line %d", msg, tc.line)
			}
			if tc.bad != "" && !strings.Contains(msg, quote(tc.bad)) {
				t.Errorf("error %q does not quote %s", msg, quote(tc.bad))
			}
		})
	}
}

func TestParseTextUnknownType(t *testing.T) {
	_, err := ParseText([]byte("sigil-checkpoint/v1\nfoo bar\n"))
	if err == nil || !strings.Contains(err.Error(), `line 1 "sigil-checkpoint/v1"`) || !strings.Contains(err.Error(), "unknown note type") {
		t.Errorf("ParseText(unknown) = %v", err)
	}
}

func FuzzParseKeyEvent(f *testing.F) {
	_, vkey := testKey(f, "acme", "1")
	f.Add([]byte(lines(keyEventHeader, "ecosystem composer", "namespace acme", "action add", "key "+vkey)))
	f.Add([]byte(lines(keyEventHeader, "ecosystem npm", "namespace @acme/foo", "action revoke", "key "+vkey)))
	f.Add([]byte(lines(keyEventHeader, "ecosystem npm", "namespace @acme/foo", "key "+vkey, "action revoke")))
	f.Fuzz(func(t *testing.T, text []byte) {
		v, err := ParseText(text)
		if err != nil {
			return
		}
		var out []byte
		switch v := v.(type) {
		case *KeyEvent:
			out, err = v.Text()
		case *Statement:
			out, err = v.Text()
		default:
			t.Fatalf("ParseText returned %T", v)
		}
		if err != nil {
			t.Fatalf("Text() of parsed %q: %v", text, err)
		}
		if string(out) != string(text) {
			t.Fatalf("round trip: got %q, want %q", out, text)
		}
	})
}

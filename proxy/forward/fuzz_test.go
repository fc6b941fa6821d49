package forward

import (
	"strings"
	"testing"
)

// FuzzCanonicalTarget: a CONNECT target or Host header is untrusted. What
// canonicalTarget accepts must be canonical (it maps to itself), and the
// origins built from it must parse back to it.
func FuzzCanonicalTarget(f *testing.F) {
	for _, s := range []string{"example.test:443", "Example.TEST.:0443", "[::1]:8443", "[::ffff:127.0.0.1]:1",
		"127.0.0.1", "a..b:1", "[fe80::1%eth0]:443", "user@host:1", ":443", "host:+1", "host:65536", strings.Repeat("a.", 200) + "x:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hp, host, ok := canonicalTarget(s, "443")
		if !ok {
			return
		}
		again, host2, ok := canonicalTarget(hp, "")
		if !ok || again != hp || host2 != host {
			t.Fatalf("canonicalTarget(%q) = %q, which canonicalizes to %q, %v", s, hp, again, ok)
		}
		if strings.ToLower(hp) != hp || strings.ContainsAny(hp, " /@?#%") {
			t.Fatalf("canonicalTarget(%q) = %q: not canonical", s, hp)
		}
		if !sameOrigin(hp, "https://"+hp) {
			t.Fatalf("%q is not its own origin", hp)
		}
	})
}

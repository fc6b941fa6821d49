package release

import (
	"slices"
	"strings"
	"testing"
)

func TestValidatePackage(t *testing.T) {
	good := map[string][]string{
		Composer: {"acme/foo", "a/b", "symfony/polyfill-php80", "vendor.name/pkg_name", "acme/foo--bar", "0/0", "laminas/laminas-code"},
		NPM: {"foo", "left-pad", "@acme/foo", "@types/node", "JSONStream", "crazy!", "example.com", "a~b", "@acme/_private",
			strings.Repeat("a", 214)},
	}
	bad := map[string][]string{
		Composer: {"", "acme", "Acme/foo", "acme/Foo", "acme/foo/bar", "acme//foo", "-acme/foo", "acme/foo-", "acme/foo---bar",
			"ac--me/foo", "acme/.foo", "acme/foo bar", "@acme/foo"},
		NPM: {"", ".foo", "_foo", "@acme", "@/foo", "@acme/", "@acme/foo/bar", "foo/bar", "@acme/.foo", "@.acme/foo", "foo bar",
			" foo", "f%oo", "node_modules", "favicon.ico", "fóo", strings.Repeat("a", 215), "@acme/@foo"},
	}
	for eco, names := range good {
		for _, n := range names {
			if err := ValidatePackage(eco, n); err != nil {
				t.Errorf("ValidatePackage(%s, %q) = %v", eco, n, err)
			}
			if err := ValidateNamespace(eco, n); err != nil {
				t.Errorf("ValidateNamespace(%s, %q) = %v", eco, n, err)
			}
		}
	}
	for eco, names := range bad {
		for _, n := range names {
			if err := ValidatePackage(eco, n); err == nil {
				t.Errorf("ValidatePackage(%s, %q) succeeded", eco, n)
			}
		}
	}
	if err := ValidatePackage("pypi", "foo"); err == nil {
		t.Error("unknown ecosystem accepted")
	}
}

func TestValidateNamespace(t *testing.T) {
	for _, tc := range []struct {
		eco, ns string
		ok      bool
	}{
		{Composer, "acme", true},
		{Composer, "acme/foo", true},
		{Composer, "Acme", false},
		{Composer, "", false},
		{Composer, "acme-", false},
		{NPM, "@acme", true},
		{NPM, "@acme/foo", true},
		{NPM, "foo", true},
		{NPM, "@", false},
		{NPM, "@.acme", false},
		{NPM, "@ac me", false},
		{"pypi", "acme", false},
	} {
		if err := ValidateNamespace(tc.eco, tc.ns); (err == nil) != tc.ok {
			t.Errorf("ValidateNamespace(%s, %q) = %v, want ok=%v", tc.eco, tc.ns, err, tc.ok)
		}
	}
}

func TestNamespaces(t *testing.T) {
	for _, tc := range []struct {
		eco, pkg string
		want     []string
	}{
		{Composer, "acme/foo", []string{"acme", "acme/foo"}},
		{NPM, "@acme/foo", []string{"@acme", "@acme/foo"}},
		{NPM, "foo", []string{"foo"}},
		{Composer, "acme", nil},
		{NPM, "@acme", nil},
	} {
		if got := Namespaces(tc.eco, tc.pkg); !slices.Equal(got, tc.want) {
			t.Errorf("Namespaces(%s, %q) = %q, want %q", tc.eco, tc.pkg, got, tc.want)
		}
	}
	if got := governing(Composer, "acme"); !slices.Equal(got, []string{"acme"}) {
		t.Errorf("governing(acme) = %q", got)
	}
	if got := governing(NPM, "@acme"); !slices.Equal(got, []string{"@acme"}) {
		t.Errorf("governing(@acme) = %q", got)
	}
}

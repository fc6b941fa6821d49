package policy

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/release"
)

func verifierKey(t testing.TB, name string) string {
	t.Helper()
	_, vkey, err := release.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

func ptr[T any](v T) *T { return &v }

func TestZeroConfig(t *testing.T) {
	var c Config
	want := Settings{Mode: ModeEnforce, Unsigned: UnsignedAllow, BreakGlass: true, Rule: -1}
	if got := c.For("acme/foo"); got != want {
		t.Errorf("zero Config: %+v, want %+v", got, want)
	}
	var nilc *Config
	if got := nilc.For("acme/foo"); got != want {
		t.Errorf("nil Config: %+v, want %+v", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("zero Config does not validate: %v", err)
	}
}

func TestFor(t *testing.T) {
	c := Config{
		Mode:     ModeWarn,
		Unsigned: UnsignedDeny,
		Rules: []Rule{
			{Package: "acme/legacy-*", Unsigned: UnsignedAllow},
			{Package: "acme/*", Mode: ModeEnforce, BreakGlass: ptr(false)},
			{Package: "@acme/*", Mode: ModeEnforce},
			{Package: "*/*", Unsigned: UnsignedWarn},
			{Package: "left-pad"},
		},
	}
	for _, tt := range []struct {
		pkg  string
		want Settings
	}{
		{"acme/legacy-lib", Settings{ModeWarn, UnsignedAllow, true, 0, false, 0}}, // first match wins over acme/*
		{"acme/foo", Settings{ModeEnforce, UnsignedDeny, false, 1, false, 0}},
		{"@acme/foo", Settings{ModeEnforce, UnsignedDeny, true, 2, false, 0}},
		{"@other/foo", Settings{ModeWarn, UnsignedWarn, true, 3, false, 0}},
		{"other/foo", Settings{ModeWarn, UnsignedWarn, true, 3, false, 0}},
		{"left-pad", Settings{ModeWarn, UnsignedDeny, true, 4, false, 0}},
		{"lodash", Settings{ModeWarn, UnsignedDeny, true, -1, false, 0}}, // "*" does not cross "/", "*/*" needs one
		{"acme", Settings{ModeWarn, UnsignedDeny, true, -1, false, 0}},
	} {
		if got := c.For(tt.pkg); got != tt.want {
			t.Errorf("For(%q) = %+v, want %+v", tt.pkg, got, tt.want)
		}
	}
	if got, want := c.TopLevel(), (Settings{ModeWarn, UnsignedDeny, true, -1, false, 0}); got != want {
		t.Errorf("TopLevel() = %+v, want %+v", got, want)
	}
}

func TestOverlay(t *testing.T) {
	k1, k2, k3 := verifierKey(t, "k1"), verifierKey(t, "k2"), verifierKey(t, "k3")
	file := Config{
		Mode:       ModeWarn,
		Unsigned:   UnsignedDeny,
		BreakGlass: ptr(false),
		VendorKeys: map[string][]string{"acme": {k1}, "other": {k2}},
		Rules:      []Rule{{Package: "acme/*", Mode: ModeEnforce}},
	}
	got := file.Overlay(Config{})
	if !reflect.DeepEqual(got, file) {
		t.Errorf("overlay of nothing changed the file: %+v", got)
	}
	got = file.Overlay(Config{Mode: ModeEnforce, BreakGlass: ptr(true), VendorKeys: map[string][]string{"acme": {k3}}, CoreKeys: map[string][]string{"npm": {k2}}})
	want := Config{
		Mode:       ModeEnforce,
		Unsigned:   UnsignedDeny,
		BreakGlass: ptr(true),
		VendorKeys: map[string][]string{"acme": {k3}, "other": {k2}},
		CoreKeys:   map[string][]string{"npm": {k2}},
		Rules:      file.Rules,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("overlay = %+v, want %+v", got, want)
	}
	if len(file.VendorKeys["acme"]) != 1 || file.VendorKeys["acme"][0] != k1 {
		t.Error("overlay modified the file's keys")
	}
}

func TestValidate(t *testing.T) {
	k := verifierKey(t, "acme")
	for _, tt := range []struct {
		name string
		c    Config
		err  string
	}{
		{"ok", Config{Mode: ModeWarn, Unsigned: UnsignedAllow, VendorKeys: map[string][]string{"acme": {k}, "@acme": {k}, "acme/foo": {k}}, CoreKeys: map[string][]string{"composer": {k}}}, ""},
		{"mode", Config{Mode: "block"}, `mode "block"`},
		{"unsigned", Config{Unsigned: "maybe"}, `unsigned "maybe"`},
		{"vendor key", Config{VendorKeys: map[string][]string{"acme": {"nope"}}}, "vendor key for acme"},
		{"vendor namespace", Config{VendorKeys: map[string][]string{"a/b/c": {k}}}, `namespace "a/b/c"`},
		{"core ecosystem", Config{CoreKeys: map[string][]string{"pypi": {k}}}, `ecosystem "pypi"`},
		{"core key", Config{CoreKeys: map[string][]string{"npm": {"x+y+z"}}}, "core key for npm"},
		{"rule pattern", Config{Rules: []Rule{{Package: "ok/*"}, {Package: "acme/[a"}}}, `rule 2 (package "acme/[a")`},
		{"rule without pattern", Config{Rules: []Rule{{Mode: ModeWarn}}}, "rule 1"},
		{"rule mode", Config{Rules: []Rule{{Package: "a/*", Mode: "off"}}}, `rule 1 (package "a/*"): mode "off"`},
		{"rule unsigned", Config{Rules: []Rule{{Package: "a/*", Unsigned: "yes"}}}, `unsigned "yes"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	k := verifierKey(t, "acme")
	dir := t.TempDir()
	name := filepath.Join(dir, "policy.toml")
	src := `# sigil policy
mode = "warn"
unsigned = "deny"
break_glass = false

[vendor_keys]
acme = ["` + k + `"]

[core_keys]
composer = ["` + k + `"]

[[rule]]
package = "acme/*"
mode = "enforce"
source = "keep"

[[rule]]
package = "@acme/*"
unsigned = "allow"
break_glass = true
`
	if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Mode:       ModeWarn,
		Unsigned:   UnsignedDeny,
		BreakGlass: ptr(false),
		VendorKeys: map[string][]string{"acme": {k}},
		CoreKeys:   map[string][]string{"composer": {k}},
		Rules: []Rule{
			{Package: "acme/*", Mode: ModeEnforce, Source: SourceKeep},
			{Package: "@acme/*", Unsigned: UnsignedAllow, BreakGlass: ptr(true)},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadFile = %+v, want %+v", c, want)
	}
	if s := c.For("@acme/x"); s != (Settings{ModeWarn, UnsignedAllow, true, 1, false, 0}) {
		t.Errorf("For(@acme/x) = %+v", s)
	}

	if _, err := LoadFile(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}
	empty, err := Parse("empty.toml", nil)
	if err != nil || !reflect.DeepEqual(empty, &Config{}) {
		t.Errorf("empty file = %+v, %v", empty, err)
	}
}

func TestParseErrors(t *testing.T) {
	k := verifierKey(t, "acme")
	for _, tt := range []struct {
		name, src, err string
	}{
		{"syntax", "mode = \"warn\"\nunsigned = \n", "p.toml:2:"},
		{"bad mode", "\n\nmode = \"block\"\n", `p.toml:3: mode "block": want enforce or warn`},
		{"bad unsigned", "unsigned = \"maybe\"\n", `p.toml:1: unsigned "maybe"`},
		{"wrong type", "break_glass = \"yes\"\n", "p.toml:1: break_glass: incompatible types"},
		{"unknown top-level key", "mode = \"warn\"\nmodee = \"warn\"\n", `p.toml: unknown key "modee"`},
		{"unknown table", "[vendor-keys]\nacme = []\n", `unknown key "vendor-keys"`},
		{"bad vendor key", "[vendor_keys]\n\nacme = [\"not-a-key\"]\n", "p.toml:3: verifier key \"not-a-key\""},
		{"bad core ecosystem", "[core_keys]\npypi = [\"" + k + "\"]\n", `p.toml: core key ecosystem "pypi"`},
		{"unknown rule key in second rule", "[[rule]]\npackage = \"a/*\"\n[[rule]]\npackage = \"b/*\"\nmodee = \"warn\"\n", `p.toml: rule 2 (package "b/*"): unknown key "modee"`},
		{"bad rule mode", "[[rule]]\npackage = \"a/*\"\nmode = \"warn\"\n[[rule]]\npackage = \"b/*\"\nmode = \"off\"\n", `p.toml: rule 2 (package "b/*"): mode "off"`},
		{"bad rule pattern", "[[rule]]\npackage = \"a/[\"\n", `rule 1 (package "a/["): package pattern`},
		{"rule without package", "[[rule]]\nmode = \"warn\"\n", "rule 1 (package \"\"): package pattern is missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.toml", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestUnmarshalText(t *testing.T) {
	var m Mode
	if err := m.UnmarshalText([]byte("warn")); err != nil || m != ModeWarn {
		t.Errorf("Mode warn: %v %v", m, err)
	}
	if err := m.UnmarshalText([]byte("")); err != nil {
		t.Errorf("empty mode (default): %v", err)
	}
	if err := m.UnmarshalText([]byte("Warn")); err == nil {
		t.Error("modes are case-sensitive")
	}
	var u Unsigned
	if err := u.UnmarshalText([]byte("deny")); err != nil || u != UnsignedDeny {
		t.Errorf("Unsigned deny: %v %v", u, err)
	}
	if err := u.UnmarshalText([]byte("block")); err == nil {
		t.Error("unsigned block accepted")
	}
}

// FuzzParse checks that no policy file makes Parse panic, and that what it
// accepts validates.
func FuzzParse(f *testing.F) {
	f.Add([]byte("mode = \"warn\"\n[[rule]]\npackage = \"acme/*\"\nunsigned = \"deny\"\n"))
	f.Add([]byte("[vendor_keys]\nacme = [\"x\"]\n"))
	f.Add([]byte("[[rule]]\nmodee = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		c.For("acme/foo")
	})
}

package policy

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The policy file is TOML:
//
//	mode = "enforce"          # or "warn"
//	unsigned = "warn"         # or "allow", "deny"
//	break_glass = true
//
//	[vendor_keys]
//	acme = ["acme+1a2b3c4d+AW..."]
//	"@acme" = ["acme-npm+5e6f7a8b+AX..."]
//
//	[core_keys]
//	composer = ["composer-core+9c0d1e2f+AY..."]
//
//	[[rule]]
//	package = "acme/*"        # path.Match pattern over the package name
//	unsigned = "deny"
//
//	[[rule]]
//	package = "mycompany/*"   # our own packages: keep their git sources
//	source = "keep"           # or "drop", the default
//
//	[[rule]]
//	package = "legacy/*"
//	mode = "warn"
//	break_glass = false
//
// Every key is optional; an unknown key or a bad value is an error naming
// the file and the line, or the rule.

// fileConfig is the TOML document. Top-level values are checked while
// decoding (UnmarshalText), so that the error carries the line. A rule's
// values are plain strings checked by Validate afterwards: the TOML library
// keeps one position per key name, that of the last rule, so a rule's error
// names the rule instead.
type fileConfig struct {
	Mode       Mode                 `toml:"mode"`
	Unsigned   Unsigned             `toml:"unsigned"`
	BreakGlass *bool                `toml:"break_glass"`
	MinAge     *fileDuration        `toml:"min_release_age"`
	VendorKeys map[string][]fileKey `toml:"vendor_keys"`
	CoreKeys   map[string][]fileKey `toml:"core_keys"`
	Rules      []fileRule           `toml:"rule"`
}

// fileKey is a verifier key checked as it is decoded.
type fileKey string

func (k *fileKey) UnmarshalText(b []byte) error {
	if err := checkVerifierKey(string(b)); err != nil {
		return err
	}
	*k = fileKey(b)
	return nil
}

type fileRule struct {
	Package    string        `toml:"package"`
	Mode       string        `toml:"mode"`
	Unsigned   string        `toml:"unsigned"`
	BreakGlass *bool         `toml:"break_glass"`
	MinAge     *fileDuration `toml:"min_release_age"`
	Source     string        `toml:"source"`
}

// typeErrRE picks the line and key out of the TOML library's type errors,
// which are not ParseErrors: "toml: line 3 (last key "x"): incompatible
// types: ...".
var typeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// LoadFile reads and checks the policy file at name. The result holds what
// the file sets; lay the flags the user set over it with Overlay.
func LoadFile(name string) (*Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	return Parse(name, data)
}

// Parse reads a policy file's contents; name is used in errors only.
func Parse(name string, data []byte) (*Config, error) {
	var f fileConfig
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s:%s: %s: %s", name, m[1], m[2], m[3])
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := unknownKeys(&md, f.Rules); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &Config{
		Mode:          f.Mode,
		Unsigned:      f.Unsigned,
		BreakGlass:    f.BreakGlass,
		MinReleaseAge: f.MinAge.duration(),
		VendorKeys:    keyLines(f.VendorKeys),
		CoreKeys:      keyLines(f.CoreKeys),
	}
	for _, r := range f.Rules {
		c.Rules = append(c.Rules, Rule{
			Package:       r.Package,
			Mode:          Mode(r.Mode),
			Unsigned:      Unsigned(r.Unsigned),
			BreakGlass:    r.BreakGlass,
			MinReleaseAge: r.MinAge.duration(),
			Source:        Source(r.Source),
		})
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func keyLines(m map[string][]fileKey) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for ns, keys := range m {
		for _, k := range keys {
			out[ns] = append(out[ns], string(k))
		}
	}
	return out
}

// unknownKeys reports the first key the file has that Config does not. The
// TOML library does not keep positions of keys inside arrays of tables, so
// a rule's key is named by the rule's number and pattern, counted from the
// order in which the keys appear.
func unknownKeys(md *toml.MetaData, rules []fileRule) error {
	undecoded := make(map[string]bool)
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	if len(undecoded) == 0 {
		return nil
	}
	rule := -1
	for _, k := range md.Keys() {
		if len(k) == 1 && k[0] == "rule" {
			rule++
			continue
		}
		if !undecoded[k.String()] {
			continue
		}
		if k[0] == "rule" && rule >= 0 && rule < len(rules) {
			return fmt.Errorf("rule %d (package %q): unknown key %q", rule+1, rules[rule].Package, strings.Join(k[1:], "."))
		}
		return fmt.Errorf("unknown key %q", k.String())
	}
	return nil
}

// fileDuration is a duration written as Go writes it ("72h", "90m").
type fileDuration time.Duration

func (d *fileDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("want a duration such as \"72h\": %w", err)
	}
	*d = fileDuration(v)
	return nil
}

func (d *fileDuration) duration() *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}

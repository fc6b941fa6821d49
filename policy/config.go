package policy

import (
	"fmt"
	"maps"
	"path"
	"time"

	"github.com/sigilproxy/sigil/release"
)

// Mode says what happens to a version that fails verification.
type Mode string

const (
	// ModeEnforce blocks what fails: the version leaves the metadata and
	// its archive is refused.
	ModeEnforce Mode = "enforce"
	// ModeWarn serves everything and reports what would have been blocked.
	ModeWarn Mode = "warn"
)

// Unsigned says what happens to a version of a package whose namespaces
// have no keys: nobody ever signed for it, so there is nothing to verify.
type Unsigned string

const (
	// UnsignedAllow serves unsigned versions silently (first-seen tree pin
	// still applies).
	UnsignedAllow Unsigned = "allow"
	// UnsignedWarn serves unsigned versions with a warning.
	UnsignedWarn Unsigned = "warn"
	// UnsignedDeny blocks unsigned versions.
	UnsignedDeny Unsigned = "deny"
)

// Config is the trust configuration. Its zero value is usable: enforce
// mode, unsigned versions served quietly (pinned on first sight, and held
// to the log's observation and to their archive's own manifest),
// break-glass honoured, no pinned keys, no rules.
//
// A field's zero value means "not set" and reads as its default, so that a
// Config built only from the flags a user set can be laid over the policy
// file's with Overlay.
type Config struct {
	// Mode is ModeEnforce or ModeWarn. Default (""): ModeEnforce.
	Mode Mode
	// Unsigned is the policy for packages whose namespaces have no keys.
	// Default (""): UnsignedAllow: unsigned is the normal case of most
	// packages, and a warning about what is normal hides the ones about
	// what is wrong.
	Unsigned Unsigned
	// BreakGlass says whether a key event signed by an ecosystem's core key
	// on a namespace that already has keys is honoured. Such an event is
	// how a vendor who lost its key recovers, and also what a compromised
	// core key would do; it is visible in the log either way. Default
	// (nil): true.
	BreakGlass *bool
	// VendorKeys pins verifier keys ("NAME+HASH+BASE64") per namespace (a
	// Composer vendor or package, an npm scope or package), in addition to
	// the keys the log's key events establish. A namespace without "/" or
	// "@" reads the same in both ecosystems (a Composer vendor, an unscoped
	// npm package) and its pins apply to both. Default: none.
	VendorKeys map[string][]string
	// CoreKeys are the verifier keys of each ecosystem's core key
	// ("composer", "npm"), which may add or revoke keys of any namespace.
	// Default: none, so only vendors' own keys sign key events.
	CoreKeys map[string][]string
	// MinReleaseAge keeps versions younger than it out of the metadata,
	// their age measured from the release log's observation of them (the
	// log's clock, bounded by witnessed checkpoints), never from the
	// registry's time fields. A version the log has not observed has no
	// age and is kept out too. Default (nil): no minimum.
	MinReleaseAge *time.Duration
	// Rules override Mode, Unsigned, BreakGlass and MinReleaseAge per
	// package. The first rule whose pattern matches the package name
	// applies. Default: none.
	Rules []Rule
}

// Rule overrides the top-level settings for the packages its pattern
// matches. A zero field inherits the top-level setting.
type Rule struct {
	// Package is a path.Match pattern over the package name: "*" does not
	// cross "/", so "acme/*" matches every Composer package of vendor acme
	// and "@acme/*" every npm package of scope @acme; "*/*" matches every
	// Composer package and every scoped npm package.
	Package       string
	Mode          Mode
	Unsigned      Unsigned
	BreakGlass    *bool
	MinReleaseAge *time.Duration // 0 turns the minimum off for the package
	// Source says whether the matched packages keep the "source" of their
	// versions in served metadata: SourceKeep keeps it; SourceDrop or
	// "" (the default) drops it. Composer installs from the source when
	// an archive fails (and a lock file records it), from wherever it
	// points, which sigil never sees; so sigil serves no source unless a
	// user keeps it for packages of their own.
	Source Source
}

// Source says what served metadata does with a version's "source".
type Source string

const (
	// SourceDrop serves no source: the default.
	SourceDrop Source = "drop"
	// SourceKeep serves the registry's source, without its mirrors.
	SourceKeep Source = "keep"
)

// Settings is the configuration in force for one package.
type Settings struct {
	Mode       Mode
	Unsigned   Unsigned
	BreakGlass bool
	// Rule is the index in Config.Rules of the rule that matched, or -1.
	Rule int
	// KeepSource is true where the rule says source = "keep".
	KeepSource bool
	// MinReleaseAge is the minimum release age, 0 for none.
	MinReleaseAge time.Duration
}

// For returns the settings in force for package pkg: the first matching
// rule's fields where it sets them, the top-level ones (or their defaults)
// otherwise.
func (c *Config) For(pkg string) Settings {
	s := c.TopLevel()
	if c == nil {
		return s
	}
	for i, r := range c.Rules {
		// Patterns are checked by Validate; a malformed one matches nothing.
		if ok, _ := path.Match(r.Package, pkg); ok {
			s.apply(r.Mode, r.Unsigned, r.BreakGlass)
			if r.MinReleaseAge != nil {
				s.MinReleaseAge = *r.MinReleaseAge
			}
			s.KeepSource = r.Source == SourceKeep
			s.Rule = i
			break
		}
	}
	return s
}

// TopLevel returns the top-level settings, or their defaults, without
// rules: what applies to a package no rule matches.
func (c *Config) TopLevel() Settings {
	s := Settings{Mode: ModeEnforce, Unsigned: UnsignedAllow, BreakGlass: true, Rule: -1}
	if c != nil {
		s.apply(c.Mode, c.Unsigned, c.BreakGlass)
		if c.MinReleaseAge != nil {
			s.MinReleaseAge = *c.MinReleaseAge
		}
	}
	return s
}

func (s *Settings) apply(m Mode, u Unsigned, bg *bool) {
	if m != "" {
		s.Mode = m
	}
	if u != "" {
		s.Unsigned = u
	}
	if bg != nil {
		s.BreakGlass = *bg
	}
}

// Overlay returns the file's configuration with every setting that flags
// sets replacing it: flags beat the file.
//
// The caller builds flags from the command-line flags the user actually set
// (urfave/cli's Context.IsSet, which also counts SIGIL_* variables), leaving
// the others at their zero value; a flag declared with a non-empty default
// would otherwise always win over the file. Mode, Unsigned and BreakGlass
// are replaced when set. VendorKeys and CoreKeys are replaced per namespace
// or ecosystem: a flag that pins keys for "acme" replaces the file's keys
// for "acme" and leaves the file's other namespaces alone. Rules come only
// from the file: there are no rule flags, and flags.Rules is ignored.
func (file Config) Overlay(flags Config) Config {
	out := file
	if flags.Mode != "" {
		out.Mode = flags.Mode
	}
	if flags.Unsigned != "" {
		out.Unsigned = flags.Unsigned
	}
	if flags.BreakGlass != nil {
		bg := *flags.BreakGlass
		out.BreakGlass = &bg
	}
	if flags.MinReleaseAge != nil {
		age := *flags.MinReleaseAge
		out.MinReleaseAge = &age
	}
	out.VendorKeys = overlayKeys(file.VendorKeys, flags.VendorKeys)
	out.CoreKeys = overlayKeys(file.CoreKeys, flags.CoreKeys)
	return out
}

func overlayKeys(file, flags map[string][]string) map[string][]string {
	if len(flags) == 0 {
		return file
	}
	out := maps.Clone(file)
	if out == nil {
		out = make(map[string][]string, len(flags))
	}
	maps.Copy(out, flags)
	return out
}

// Validate checks every field: known modes, well-formed patterns and
// verifier keys, known ecosystems. It names the rule or key at fault.
func (c *Config) Validate() error {
	if err := c.Mode.check(); err != nil {
		return err
	}
	if err := c.Unsigned.check(); err != nil {
		return err
	}
	if err := checkAge(c.MinReleaseAge); err != nil {
		return err
	}
	for ns, keys := range c.VendorKeys {
		if release.ValidateNamespace(release.Composer, ns) != nil && release.ValidateNamespace(release.NPM, ns) != nil {
			return fmt.Errorf("vendor key namespace %q: want a Composer vendor or package, an npm scope or package", ns)
		}
		for _, k := range keys {
			if err := checkVerifierKey(k); err != nil {
				return fmt.Errorf("vendor key for %s: %w", ns, err)
			}
		}
	}
	for eco, keys := range c.CoreKeys {
		if eco != release.Composer && eco != release.NPM {
			return fmt.Errorf("core key ecosystem %q: want composer or npm", eco)
		}
		for _, k := range keys {
			if err := checkVerifierKey(k); err != nil {
				return fmt.Errorf("core key for %s: %w", eco, err)
			}
		}
	}
	for i, r := range c.Rules {
		if err := r.check(); err != nil {
			return fmt.Errorf("rule %d (package %q): %w", i+1, r.Package, err)
		}
	}
	return nil
}

func (r *Rule) check() error {
	if r.Package == "" {
		return fmt.Errorf("package pattern is missing")
	}
	if _, err := path.Match(r.Package, ""); err != nil {
		return fmt.Errorf("package pattern: %w", err)
	}
	if err := r.Mode.check(); err != nil {
		return err
	}
	if err := r.Source.check(); err != nil {
		return err
	}
	if err := checkAge(r.MinReleaseAge); err != nil {
		return err
	}
	return r.Unsigned.check()
}

func checkAge(d *time.Duration) error {
	if d != nil && *d < 0 {
		return fmt.Errorf("min-release-age %s: want a positive duration, or 0 for none", *d)
	}
	return nil
}

func (s Source) check() error {
	switch s {
	case "", SourceDrop, SourceKeep:
		return nil
	}
	return fmt.Errorf("source %q: want keep or drop", string(s))
}

// UnmarshalText accepts "enforce" or "warn", so that a Mode can be read
// from a flag, an environment variable or the policy file.
func (m *Mode) UnmarshalText(b []byte) error {
	v := Mode(b)
	if err := v.check(); err != nil {
		return err
	}
	*m = v
	return nil
}

// UnmarshalText accepts "allow", "warn" or "deny".
func (u *Unsigned) UnmarshalText(b []byte) error {
	v := Unsigned(b)
	if err := v.check(); err != nil {
		return err
	}
	*u = v
	return nil
}

func (m Mode) check() error {
	switch m {
	case "", ModeEnforce, ModeWarn:
		return nil
	}
	return fmt.Errorf("mode %q: want enforce or warn", string(m))
}

func (u Unsigned) check() error {
	switch u {
	case "", UnsignedAllow, UnsignedWarn, UnsignedDeny:
		return nil
	}
	return fmt.Errorf("unsigned %q: want allow, warn or deny", string(u))
}

// checkVerifierKey uses the release package's parser, which the log
// evaluation uses too, so that a key accepted here is one it accepts.
func checkVerifierKey(k string) error {
	if _, err := release.NewVerifier(k); err != nil {
		return fmt.Errorf("verifier key %q: %w", k, err)
	}
	return nil
}

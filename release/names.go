package release

import (
	"fmt"
	"regexp"
	"strings"
)

// Composer's own package-name rule (composer/composer ValidatingArrayLoader):
// vendor/name, lowercase, words joined by single separators, and "--"
// allowed in the name part. Packagist refuses anything else, so a name that
// fails it cannot be a real package and is refused before it reaches a map
// key, a URL or a log lookup.
var (
	composerVendorRE  = regexp.MustCompile(`^[a-z0-9]([_.-]?[a-z0-9]+)*$`)
	composerPackageRE = regexp.MustCompile(`^[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]|-{1,2})?[a-z0-9]+)*$`)
)

// npmMaxName is npm's limit on a package name. Older packages may be longer,
// but none we need to serve are, and a bound keeps names usable as keys.
const npmMaxName = 214

// ValidatePackage reports whether name is a package name of ecosystem eco,
// as it appears in registry metadata and in statements.
//
// Composer: vendor/name by Composer's own rule, lowercase only.
// npm: "name" or "@scope/name", at most 214 bytes, each part made of the
// characters encodeURIComponent leaves alone. Legacy names with capital
// letters or "~'!()*" exist on the registry and are accepted, as npm's
// validForOldPackages does. Parts starting with "." (which would let a name
// read as a relative path) and unscoped names starting with "_", as well as
// "node_modules" and "favicon.ico", are refused.
func ValidatePackage(eco, name string) error {
	switch eco {
	case Composer:
		if !composerPackageRE.MatchString(name) {
			return fmt.Errorf("invalid composer package name %s: want lowercase vendor/name", quote(name))
		}
		return nil
	case NPM:
		return validateNPMPackage(name)
	default:
		return fmt.Errorf("unknown ecosystem %s", quote(eco))
	}
}

// ValidateNamespace reports whether ns is a key namespace of ecosystem eco:
// a Composer vendor ("acme") or package ("acme/foo"); an npm scope ("@acme")
// or package ("@acme/foo", "foo").
func ValidateNamespace(eco, ns string) error {
	switch eco {
	case Composer:
		if strings.Contains(ns, "/") {
			return ValidatePackage(eco, ns)
		}
		if !composerVendorRE.MatchString(ns) {
			return fmt.Errorf("invalid composer namespace %s: want a lowercase vendor or vendor/name", quote(ns))
		}
		return nil
	case NPM:
		if strings.HasPrefix(ns, "@") && !strings.Contains(ns, "/") {
			if err := validateNPMPart(ns[1:]); err != nil {
				return fmt.Errorf("invalid npm scope %s: %w", quote(ns), err)
			}
			return nil
		}
		return ValidatePackage(eco, ns)
	default:
		return fmt.Errorf("unknown ecosystem %s", quote(eco))
	}
}

// Namespaces returns the namespaces that govern package pkg, broadest first:
// Composer "acme/foo" gives ["acme", "acme/foo"]; npm "@acme/foo" gives
// ["@acme", "@acme/foo"] and unscoped "foo" gives ["foo"]. It returns nil
// if pkg is not a valid package name of eco.
func Namespaces(eco, pkg string) []string {
	if ValidatePackage(eco, pkg) != nil {
		return nil
	}
	return governing(eco, pkg)
}

// governing returns the namespaces that govern namespace ns (itself
// included), broadest first. ns must be valid for eco. Authority only flows
// downwards, from a vendor or scope to its packages, so everything a
// namespace's keyring state depends on lies in this list; a log lookup that
// returns the key events of these namespaces is therefore complete.
func governing(eco, ns string) []string {
	if eco == NPM && !strings.HasPrefix(ns, "@") {
		return []string{ns}
	}
	vendor, _, ok := strings.Cut(ns, "/")
	if !ok {
		return []string{ns}
	}
	return []string{vendor, ns}
}

func validateNPMPackage(name string) error {
	if name == "" {
		return fmt.Errorf("invalid npm package name: empty")
	}
	if len(name) > npmMaxName {
		return fmt.Errorf("invalid npm package name %s: longer than %d bytes", quote(name), npmMaxName)
	}
	if name == "node_modules" || name == "favicon.ico" {
		return fmt.Errorf("invalid npm package name %s: reserved by npm", quote(name))
	}
	if rest, ok := strings.CutPrefix(name, "@"); ok {
		scope, pkg, ok := strings.Cut(rest, "/")
		if !ok {
			return fmt.Errorf("invalid npm package name %s: scoped name needs @scope/name", quote(name))
		}
		if err := validateNPMPart(scope); err != nil {
			return fmt.Errorf("invalid npm package name %s: scope: %w", quote(name), err)
		}
		if err := validateNPMPart(pkg); err != nil {
			return fmt.Errorf("invalid npm package name %s: %w", quote(name), err)
		}
		return nil
	}
	if strings.HasPrefix(name, "_") {
		return fmt.Errorf("invalid npm package name %s: starts with \"_\"", quote(name))
	}
	if err := validateNPMPart(name); err != nil {
		return fmt.Errorf("invalid npm package name %s: %w", quote(name), err)
	}
	return nil
}

// validateNPMPart checks one scope or name part: non-empty, not starting
// with ".", and only characters that encodeURIComponent leaves unescaped
// (so "/" and "@" cannot appear inside a part).
func validateNPMPart(s string) error {
	if s == "" {
		return fmt.Errorf("empty part")
	}
	if s[0] == '.' {
		return fmt.Errorf("part starts with \".\"")
	}
	for i := 0; i < len(s); i++ {
		if !npmURLSafe(s[i]) {
			return fmt.Errorf("character %q is not URL-safe", s[i])
		}
	}
	return nil
}

func npmURLSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.!~*'()", c) >= 0
}

// ValidateVersion checks a version string as a statement or observation
// carries it: non-empty, at most 256 bytes, UTF-8 without white space or
// control characters.
func ValidateVersion(v string) error {
	if err := checkToken(v); err != nil {
		return fmt.Errorf("invalid version %s: %w", quote(v), err)
	}
	return nil
}

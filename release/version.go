package release

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Composer compares versions by their normalized form, so "v1.0.0", "1.0"
// and "1.0.0.0" are one version to it, while the registry lists each string
// as it was tagged. NormalizeComposerVersion is Composer's
// VersionParser::normalize (composer/semver src/VersionParser.php) for a
// version of a package, as Packagist computes version_normalized: aliases
// ("x as y") and stability flags ("@dev") are cut, "dev-" branches keep
// their name, build metadata is dropped, a classical or date version is
// padded to four numbers with its modifier expanded (a → alpha, b → beta,
// p and pl → patch, rc → RC), and a numeric branch ending in -dev becomes
// its 9999999 form ("2.x-dev" → "2.9999999.9999999.9999999-dev").

// ErrVersion is wrapped by the error of a version Composer would refuse.
var ErrVersion = errors.New("invalid version")

const composerModifier = `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*)?)?([.-]?dev)?`

var (
	composerAlias     = regexp.MustCompile(`^([^,\s]+) +as +([^,\s]+)$`)
	composerStability = regexp.MustCompile(`(?i)@(?:stable|RC|beta|alpha|dev)$`)
	composerBuild     = regexp.MustCompile(`^([^,\s+]+)\+[^\s]+$`)
	composerClassical = regexp.MustCompile(`(?i)^v?(\d{1,5})(\.\d+)?(\.\d+)?(\.\d+)?` + composerModifier + `$`)
	composerDate      = regexp.MustCompile(`(?i)^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2})` + composerModifier + `$`)
	composerDevSuffix = regexp.MustCompile(`(?i)^(.*?)[.-]?dev$`)
	composerBranch    = regexp.MustCompile(`(?i)^v?(\d+)(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?$`)
	nonDigit          = regexp.MustCompile(`\D`)
)

// NormalizeComposerVersion returns Composer's normalized form of version.
func NormalizeComposerVersion(version string) (string, error) {
	v := strings.Trim(version, " \t\n\r\x00\x0b")
	if m := composerAlias.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	if m := composerStability.FindString(v); m != "" {
		v = v[:len(v)-len(m)]
	}
	switch v {
	case "master", "trunk", "default":
		v = "dev-" + v
	}
	if len(v) >= 4 && strings.EqualFold(v[:4], "dev-") {
		return "dev-" + v[4:], nil
	}
	if m := composerBuild.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	if m := composerClassical.FindStringSubmatch(v); m != nil {
		n := m[1]
		for _, part := range m[2:5] {
			if part == "" {
				part = ".0"
			}
			n += part
		}
		return withModifier(n, m[5:]), nil
	}
	if m := composerDate.FindStringSubmatch(v); m != nil {
		return withModifier(nonDigit.ReplaceAllString(m[1], "."), m[2:]), nil
	}
	if m := composerDevSuffix.FindStringSubmatch(v); m != nil {
		if n := normalizeBranch(m[1]); !strings.Contains(n, "dev-") {
			return n, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrVersion, quoteEntry(version))
}

// withModifier appends the stability modifier mod (the regexp's three
// groups: stability, its number, dev).
func withModifier(n string, mod []string) string {
	if mod[0] != "" {
		if mod[0] == "stable" {
			return n
		}
		n += "-" + expandStability(mod[0]) + strings.TrimLeft(mod[1], ".-")
	}
	if mod[2] != "" {
		n += "-dev"
	}
	return n
}

func expandStability(s string) string {
	s = asciiLower(s)
	switch s {
	case "a":
		return "alpha"
	case "b":
		return "beta"
	case "p", "pl":
		return "patch"
	case "rc":
		return "RC"
	}
	return s
}

func normalizeBranch(name string) string {
	name = strings.Trim(name, " \t\n\r\x00\x0b")
	m := composerBranch.FindStringSubmatch(name)
	if m == nil {
		return "dev-" + name
	}
	v := m[1]
	for _, part := range m[2:5] {
		if part == "" {
			part = ".x"
		}
		v += strings.NewReplacer("*", "x", "X", "x").Replace(part)
	}
	return strings.ReplaceAll(v, "x", "9999999") + "-dev"
}

// IsComposerDev reports whether a normalized Composer version names a
// branch: its content moves with every commit.
func IsComposerDev(normalized string) bool {
	return strings.HasPrefix(normalized, "dev-") || strings.HasSuffix(normalized, "-dev")
}

package release

import (
	"fmt"
	"regexp"
	"strings"
)

// composerDevTail is the dev suffix Composer's VcsRepository strips from
// the version of a tag.
var composerDevTail = regexp.MustCompile(`(?i)[.-]?dev$`)

// ComposerTagVersion returns the version string a Composer registry
// carries for the release at git tag tag, and its normalized form, the
// way Composer's VcsRepository reads tags: "release-" is removed from the
// tag, the tag must be a version, the version is the tag as written (so
// "v1.2.3" stays "v1.2.3"), or manifestVersion when composer.json sets
// "version", which must then normalize to the tag's version.
func ComposerTagVersion(tag, manifestVersion string) (version, normalized string, err error) {
	name := strings.ReplaceAll(tag, "release-", "")
	parsed, err := NormalizeComposerVersion(name)
	if err != nil {
		return "", "", fmt.Errorf("tag %s: %w", tag, err)
	}
	version, normalized = name, parsed
	if manifestVersion != "" {
		version = manifestVersion
		if normalized, err = NormalizeComposerVersion(manifestVersion); err != nil {
			return "", "", fmt.Errorf("composer.json version: %w", err)
		}
	}
	version = composerDevTail.ReplaceAllString(version, "")
	normalized = strings.TrimPrefix(composerDevTail.ReplaceAllString(normalized, ""), "dev-")
	if normalized != parsed {
		if composerDevTail.MatchString(parsed) || strings.HasPrefix(parsed, "dev-") {
			return "", "", fmt.Errorf("tag %s: a release tag cannot be a dev version", tag)
		}
		return "", "", fmt.Errorf("tag %s (%s) does not match the version %q in composer.json (%s)", tag, parsed, manifestVersion, normalized)
	}
	return version, normalized, nil
}

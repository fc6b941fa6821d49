package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// The manifest digest pins what a package manager acts on when it installs
// a version as a dependency: every field it reads from the registry's
// metadata rather than from the files it extracts. It is "sha256:" and the
// hex SHA-256 of the RFC 8785 canonical JSON of an object holding those
// fields (ManifestFields), empty or absent ones left out.
//
// Composer reads everything from the metadata, nothing from the archive's
// composer.json (composer/composer src/Composer/Package/Loader/ArrayLoader.php
// and the installers). What it acts on for a dependency:
//
//	require, conflict, replace, provide   the solver (names lowercased)
//	type                                  InstallationManager picks the installer;
//	                                      "composer-plugin" makes PluginManager run code
//	extra                                 plugins (extra.class), installer paths
//	                                      (composer/installers' installer-name),
//	                                      branch aliases
//	autoload, include-path, target-dir    AutoloadGenerator: what vendor/autoload.php loads
//	bin                                   BinaryInstaller: what goes into vendor/bin
//	php-ext                               PIE: how a PHP extension is built
//
// require-dev, autoload-dev, scripts, config, repositories and
// minimum-stability act only in the root package, so they are left out.
//
// npm reads the version object of the packument (@npmcli/arborist node.js,
// rebuild.js, shrinkwrap.js; npm-install-checks; bin-links) and the tarball's
// package.json only where the packument says to look:
//
//	dependencies, optionalDependencies,
//	peerDependencies, peerDependenciesMeta,
//	acceptDependencies, bundleDependencies   the tree
//	os, cpu, libc, engines                   which optional dependencies install,
//	                                         which versions are picked
//	bin                                      what is linked into node_modules/.bin
//	hasInstallScript                         whether npm reads the tarball's
//	                                         package.json for install scripts
//
// _hasShrinkwrap (whether the tarball's npm-shrinkwrap.json decides the
// subtree) is not in the digest: registries differ on whether they write
// it at all, and one that never does serves shrinkwrapped tarballs without
// it. It is a claim about the archive's root files, not about its
// manifest, so it is checked as one (HasShrinkwrap): a front serves it
// only as true, and only for an archive that holds the file.
//
// "scripts" and "gypfile" are not covered: the digest holds hasInstallScript
// as arborist computes it (the flag, or a preinstall, install or
// postinstall script), which is all the abbreviated packument carries. When
// a version object has no scripts but hasInstallScript, npm reads the
// scripts (and looks for binding.gyp) in the package.json of the extracted,
// verified tarball (rebuild.js); served scripts would run instead, so a
// front never serves them. Not covered either, and so not to be served as
// verified: deprecated (set by "npm deprecate" on the registry, never in a
// tarball; npm only prints it and avoids the version when it can pick
// another), man and directories (bin-links links man pages on global
// installs only), devDependencies (never installed for a dependency).
//
// A vendor computes the digest from the manifest file in the archive
// (ArchiveManifestDigest); the proxy from the registry's metadata for that
// version (MetadataManifestDigest), and again from the archive when it
// verifies it. The two agree only where the registry copies the fields
// faithfully, so the archive side applies the rewrites the registry and the
// publishing client are known to apply (see composerFields and npmFields),
// and both sides refuse what would be mangled unpredictably: fields of the
// wrong JSON type, dependency constraints that are not strings, control
// characters, names that appear twice (once case is folded, for Composer).
// Where the client itself folds two spellings into one (PHP's [] and {},
// Composer's type case, npm's merged optionalDependencies, npm's bin
// names and paths), both sides fold them, as the client cannot tell them
// apart.

// ErrManifest is wrapped by every error of the manifest digest functions.
var ErrManifest = errors.New("invalid manifest")

// ManifestFields returns the top-level fields of a version object that the
// manifest digest of ecosystem eco covers, in order; nil for an unknown
// ecosystem. A front serves these (besides identity, dist and informational
// fields), and nothing else that changes what gets installed. For npm,
// hasInstallScript is derived: a front serves "hasInstallScript": true for a
// version with install scripts (in its scripts or the flag) and never serves
// "scripts", so that npm runs the ones in the verified tarball.
// "bundledDependencies" is npm's old spelling of bundleDependencies, read
// the same way.
func ManifestFields(eco string) []string {
	switch eco {
	case Composer:
		return slices.Clone(composerFieldNames)
	case NPM:
		return slices.Clone(npmFieldNames)
	}
	return nil
}

// MetadataManifestInputs returns the top-level fields of a version object
// that MetadataManifestDigest reads: ManifestFields, and for npm "scripts",
// from which hasInstallScript is derived, and "name", which names the one
// command of a bin given as a string. The digest of an object holding
// only these equals the digest of the whole version object.
func MetadataManifestInputs(eco string) []string {
	f := ManifestFields(eco)
	if eco == NPM {
		f = append(f, "scripts", "name")
	}
	return f
}

var (
	composerFieldNames = []string{"require", "conflict", "replace", "provide", "type", "extra",
		"autoload", "include-path", "target-dir", "bin", "php-ext"}
	npmFieldNames = []string{"dependencies", "optionalDependencies", "peerDependencies",
		"peerDependenciesMeta", "acceptDependencies", "bundleDependencies", "bundledDependencies",
		"os", "cpu", "libc", "engines", "bin", "hasInstallScript"}
)

// ManifestDigest returns the manifest digest of a manifest file taken from
// an archive of ecosystem eco (composer.json or package.json), as if the
// archive held no other file: ArchiveManifestDigest with only the manifest.
func ManifestDigest(eco string, manifestJSON []byte) (string, error) {
	return ArchiveManifestDigest(eco, &ArchiveInfo{Manifest: manifestJSON})
}

// ArchiveManifestDigest returns the manifest digest of an archive, as the
// registry would record it on publish: from info.Manifest, and, for npm,
// the root files the publishing client looks at (info.RootFiles). An
// archive without a manifest file has the digest of an empty manifest.
//
// Composer (the public Composer repository): Composer's ArrayLoader
// lowercases link targets and the type (composer/composer
// src/Composer/Package/Loader/ArrayLoader.php), and Packagist's Updater
// stores each constraint as Composer's pretty constraint, except that a
// constraint holding both "," and "@" has each "<op>version@flag"
// rewritten to "<op>version-flag", or to "<op>version" for @stable
// (composer/packagist src/Package/Updater.php, "handle links"). Both are
// applied here. Packagist also strips control characters
// (ConsoleIO::sanitize); they are refused here instead.
//
// npm: see npmManifest.
func ArchiveManifestDigest(eco string, info *ArchiveInfo) (string, error) {
	doc := info.Manifest
	if doc == nil {
		doc = []byte("{}")
	}
	return manifestDigest(eco, doc, info.RootFiles, true)
}

// MetadataManifestDigest returns the manifest digest of one version object
// of registry metadata: an npm packument's versions[v], or a Composer p2
// version entry once the minified format is expanded. Values are taken as
// the registry wrote them (Packagist's and npm's publish rewrites are not
// applied twice); only the folds the client makes itself apply.
func MetadataManifestDigest(eco string, version json.RawMessage) (string, error) {
	return manifestDigest(eco, version, nil, false)
}

func manifestDigest(eco string, doc []byte, rootFiles []string, fromArchive bool) (string, error) {
	if len(doc) > maxManifestBytes {
		return "", fmt.Errorf("%w: larger than %d bytes", ErrManifest, maxManifestBytes)
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD, making two
	// different documents one.
	if !utf8.Valid(doc) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrManifest)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return "", fmt.Errorf("%w: not a JSON object: %v", ErrManifest, err)
	} else if top == nil {
		return "", fmt.Errorf("%w: not a JSON object: null", ErrManifest)
	}
	var fields map[string]any
	var err error
	switch eco {
	case Composer:
		fields, err = composerManifest(top, fromArchive)
	case NPM:
		fields, err = npmManifest(top, rootFiles, fromArchive)
	default:
		return "", fmt.Errorf("%w: unknown ecosystem %s", ErrManifest, quoteEntry(eco))
	}
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return "", fmt.Errorf("%w: %w", ErrManifest, err)
	}
	canonical, err := jcs.Transform(buf.Bytes())
	if err != nil {
		return "", fmt.Errorf("%w: canonical JSON: %w", ErrManifest, err)
	}
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// asciiLower is PHP's strtolower, which since PHP 8.2 maps ASCII only
// whatever the locale, unlike strings.ToLower.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// packagistAtFlag is Packagist's '{([><]=?\s*[^@]+?)@([a-z]+)}i', with the
// classes spelled out: PCRE without /u folds ASCII case only and its \s is
// ASCII white space, while Go's (?i) would also fold "K" into the Kelvin
// sign. Control characters never get here.
var packagistAtFlag = regexp.MustCompile(`([><]=?[ \t\n\f\r]*[^@]+?)@([a-zA-Z]+)`)

func packagistConstraint(c string) string {
	if !strings.Contains(c, ",") || !strings.Contains(c, "@") {
		return c
	}
	return packagistAtFlag.ReplaceAllStringFunc(c, func(m string) string {
		sub := packagistAtFlag.FindStringSubmatch(m)
		if sub[2] == "stable" {
			return sub[1]
		}
		return sub[1] + "-" + sub[2]
	})
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// dependencyMap parses one dependency field: absent, null, [] and {} are
// empty; any other non-object is refused, as are duplicate names,
// non-string values, ill-formed escapes (via jcs, which refuses lone
// surrogates that encoding/json would replace), and control characters.
func dependencyMap(field string, raw json.RawMessage) (map[string]string, error) {
	t := bytes.TrimSpace(raw)
	if isNull(t) {
		return nil, nil
	}
	switch t[0] {
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(t, &list) == nil && len(list) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s must be an object, not a non-empty array", ErrManifest, field)
	case '"':
		var s string
		if json.Unmarshal(t, &s) == nil && s == "__unset" {
			return nil, fmt.Errorf("%w: %s is \"__unset\": expand minified Composer metadata first", ErrManifest, field)
		}
	}
	if t[0] != '{' {
		return nil, fmt.Errorf("%w: %s must be an object, not %s", ErrManifest, field, jsonKind(t))
	}
	if _, err := jcs.Transform(t); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrManifest, field, err)
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(t, &values); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrManifest, field, err)
	}
	out := make(map[string]string, len(values))
	// In name order, so that of several bad entries the same one is named
	// every time.
	for _, name := range sortedKeysOf(values) {
		v := values[name]
		var c string
		// Unmarshal leaves a string alone for null: check the kind first.
		if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &c) != nil {
			return nil, fmt.Errorf("%w: %s: %s: constraint must be a string, not %s", ErrManifest, field, quoteEntry(name), jsonKind(v))
		}
		if hasControl(name) || hasControl(c) {
			return nil, fmt.Errorf("%w: %s: %s: control character in name or constraint", ErrManifest, field, quoteEntry(name))
		}
		out[name] = c
	}
	return out, nil
}

// jsonKind names the type of a JSON value for an error message.
func jsonKind(v []byte) string {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// sortedKeysOf returns the keys of m in order, so that checks over a JSON
// object report the same entry every time.
func sortedKeysOf[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

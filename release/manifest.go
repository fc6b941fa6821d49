package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// The manifest digest pins what a resolver reads from a version: the
// dependency fields, and nothing that may change without changing what gets
// installed. It is "sha256:" and the hex SHA-256 of the RFC 8785 canonical
// JSON of an object holding those fields, each an object from package name
// to constraint, empty or absent fields left out:
//
//	composer: require, conflict, replace, provide (names lowercased)
//	npm:      dependencies, optionalDependencies, peerDependencies
//
// A vendor computes it from the manifest file in the archive; the proxy from
// the registry's metadata for that version. The two agree only where the
// registry copies the fields faithfully, so each side applies the rewrites
// the registry is known to apply on publish (see ManifestDigest), and
// refuses what the registry would refuse or mangle unpredictably: fields that
// are not objects, values that are not strings, control characters, names
// that appear twice (once case is folded, for Composer). PHP writes an empty
// map as [], so an empty array counts as an empty object.

// ErrManifest is wrapped by every error of the manifest digest functions.
var ErrManifest = errors.New("invalid manifest")

var (
	composerFields = []string{"require", "conflict", "replace", "provide"}
	npmFields      = []string{"dependencies", "optionalDependencies", "peerDependencies"}
)

// ManifestDigest returns the manifest digest of a manifest file taken from
// an archive of ecosystem eco (composer.json or package.json), as the
// registry would record it on publish:
//
// Composer (the public Composer repository): Composer's ArrayLoader
// lowercases link targets (composer/composer
// src/Composer/Package/Loader/ArrayLoader.php, parseLinks), and Packagist's
// Updater stores each constraint as Composer's pretty constraint, except
// that a constraint holding both "," and "@" has each "<op>version@flag"
// rewritten to "<op>version-flag", or to "<op>version" for @stable
// (composer/packagist src/Package/Updater.php, "handle links"). Both are
// applied here. Packagist also strips control characters
// (ConsoleIO::sanitize); they are refused here instead.
//
// npm: see npmDependencies.
func ManifestDigest(eco string, manifestJSON []byte) (string, error) {
	return manifestDigest(eco, manifestJSON, true)
}

// MetadataManifestDigest returns the manifest digest of one version object
// of registry metadata: an npm packument's versions[v], or a Composer p2
// version entry once the minified format is expanded. Composer constraints
// are taken as the registry wrote them (Packagist's rewrite is not applied
// twice); names are still lowercased, and npm's rules apply as for
// ManifestDigest.
func MetadataManifestDigest(eco string, version json.RawMessage) (string, error) {
	return manifestDigest(eco, version, false)
}

func manifestDigest(eco string, doc []byte, fromArchive bool) (string, error) {
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
	var fields map[string]map[string]string
	var err error
	switch eco {
	case Composer:
		fields, err = composerLinks(top, fromArchive)
	case NPM:
		fields, err = npmDependencies(top)
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

func composerLinks(top map[string]json.RawMessage, fromArchive bool) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, field := range composerFields {
		links, err := dependencyMap(field, top[field])
		if err != nil {
			return nil, err
		}
		lower := make(map[string]string, len(links))
		for _, name := range sortedKeysOf(links) {
			c := links[name]
			l := asciiLower(name)
			if _, dup := lower[l]; dup {
				return nil, fmt.Errorf("%w: %s: %s appears twice with different case", ErrManifest, field, quoteEntry(l))
			}
			if fromArchive {
				c = packagistConstraint(c)
			}
			lower[l] = c
		}
		if len(lower) > 0 {
			out[field] = lower
		}
	}
	return out, nil
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

// npmDependencies applies what npm's publish path does to the dependency
// fields before the manifest becomes the registry's versions[v] (the
// registry itself stores it as sent):
//
//   - Since @npmcli/package-json 4.0.1 (npm 9.8.0, July 2023), "npm
//     publish" prepares the manifest with normalize-data.js, which adds
//     every name listed in bundleDependencies but missing from
//     dependencies to dependencies as "*" (npm/package-json
//     lib/normalize-data.js). Older npm did the same through
//     normalize-package-data's fixBundleDependenciesField.
//   - Older npm (read-package-json, then normalize-package-data
//     lib/fixer.js addOptionalDepsToDeps) also copied optionalDependencies
//     into dependencies; npm 9.8.0 and later no longer do ("we no longer do
//     this", lib/normalize.js), and npm's installer drops from dependencies
//     what optionalDependencies lists (lib/normalize.js, optionalDedupe).
//     Both sides here drop those entries, which makes the merged and
//     unmerged forms agree and loses nothing a resolver reads.
//
// npm also rewrites hosted git specs in dependencies into hosted-git-info's
// canonical form ("user/repo" becomes "github:user/repo"). That is not
// reproduced: a manifest must already use the canonical form to match. npm
// converts string or array dependency fields into objects and deletes
// non-string values; here both are refused.
func npmDependencies(top map[string]json.RawMessage) (map[string]map[string]string, error) {
	maps := make(map[string]map[string]string, len(npmFields))
	for _, field := range npmFields {
		m, err := dependencyMap(field, top[field])
		if err != nil {
			return nil, err
		}
		maps[field] = m
	}
	deps := maps["dependencies"]
	for _, name := range bundled(top) {
		if _, ok := deps[name]; !ok {
			if deps == nil {
				deps = map[string]string{}
				maps["dependencies"] = deps
			}
			deps[name] = "*"
		}
	}
	for name := range maps["optionalDependencies"] {
		delete(deps, name)
	}
	out := map[string]map[string]string{}
	for field, m := range maps {
		if len(m) > 0 {
			out[field] = m
		}
	}
	return out, nil
}

// bundled returns the names in bundleDependencies (or its misspelling
// bundledDependencies, which npm renames), as npm reads them: an array's
// strings, an object's keys; true and anything else add no names.
func bundled(top map[string]json.RawMessage) []string {
	raw, ok := top["bundleDependencies"]
	if !ok {
		raw = top["bundledDependencies"]
	}
	var list []any
	if json.Unmarshal(raw, &list) == nil {
		var names []string
		for _, v := range list {
			if s, ok := v.(string); ok && s != "" {
				names = append(names, s)
			}
		}
		return names
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		return names
	}
	return nil
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

package release

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func sha256Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// A composer.json as a vendor writes it, and the p2 version entry
// Packagist makes of it: names lowercased, the "@dev" constraint rewritten,
// empty fields dropped, require-dev and everything else beside the point.
const (
	composerJSON = `{
	"name": "Acme/Foo",
	"description": "Foo",
	"require": {"PHP": ">=8.1", "Acme/Bar": "^1.0", "monolog/monolog": ">=1.0@dev,<2.0"},
	"require-dev": {"phpunit/phpunit": "^10"},
	"conflict": [],
	"replace": {"acme/old-foo": "self.version"},
	"provide": {},
	"autoload": {"psr-4": {"Acme\\": "src/"}}
}`
	composerP2 = `{
	"name": "acme/foo", "version": "v1.2.3", "version_normalized": "1.2.3.0",
	"dist": {"type": "zip", "url": "https://git.example.test/acme/foo/zipball/abc", "reference": "abc", "shasum": ""},
	"require": {"php": ">=8.1", "acme/bar": "^1.0", "monolog/monolog": ">=1.0-dev,<2.0"},
	"require-dev": {"phpunit/phpunit": "^10"},
	"replace": {"acme/old-foo": "self.version"}
}`
	composerCanonical = `{"replace":{"acme/old-foo":"self.version"},"require":{"acme/bar":"^1.0","monolog/monolog":">=1.0-dev,<2.0","php":">=8.1"}}`
)

// A package.json, and what npm 9.8+ and older npm put in versions[v]: npm 9.8+
// adds the bundled "d" as "*"; older npm also copied optionalDependencies
// into dependencies.
const (
	packageJSON = `{
	"name": "@acme/foo", "version": "1.2.3",
	"dependencies": {"a": "^1.0.0", "b": "^2.0.0"},
	"optionalDependencies": {"b": "^2.0.0", "c": "^3.0.0"},
	"peerDependencies": {"react": ">=18"},
	"devDependencies": {"tap": "^16"},
	"bundleDependencies": ["d"]
}`
	npm10Version = `{
	"name": "@acme/foo", "version": "1.2.3", "_id": "@acme/foo@1.2.3",
	"dependencies": {"a": "^1.0.0", "b": "^2.0.0", "d": "*"},
	"optionalDependencies": {"b": "^2.0.0", "c": "^3.0.0"},
	"peerDependencies": {"react": ">=18"},
	"bundleDependencies": ["d"],
	"dist": {"integrity": "sha512-AAAA", "tarball": "https://npm.example.test/@acme/foo/-/foo-1.2.3.tgz"}
}`
	legacyNPMVersion = `{
	"name": "@acme/foo", "version": "1.2.3",
	"dependencies": {"a": "^1.0.0", "b": "^2.0.0", "c": "^3.0.0", "d": "*"},
	"optionalDependencies": {"b": "^2.0.0", "c": "^3.0.0"},
	"peerDependencies": {"react": ">=18"},
	"bundleDependencies": ["d"]
}`
	npmCanonical = `{"dependencies":{"a":"^1.0.0","d":"*"},"optionalDependencies":{"b":"^2.0.0","c":"^3.0.0"},"peerDependencies":{"react":">=18"}}`
)

func mustDigest(t *testing.T, f func(string, []byte) (string, error), eco, doc string) string {
	t.Helper()
	d, err := f(eco, []byte(doc))
	if err != nil {
		t.Fatalf("%s digest of %.40q: %v", eco, doc, err)
	}
	return d
}

func metadataDigest(eco string, doc []byte) (string, error) { return MetadataManifestDigest(eco, doc) }

func TestManifestDigestArchiveMatchesRegistry(t *testing.T) {
	tests := []struct {
		eco, archive, canonical string
		registry                []string
	}{
		{Composer, composerJSON, composerCanonical, []string{composerP2}},
		{NPM, packageJSON, npmCanonical, []string{npm10Version, legacyNPMVersion}},
	}
	for _, tt := range tests {
		want := sha256Digest(tt.canonical)
		if got := mustDigest(t, ManifestDigest, tt.eco, tt.archive); got != want {
			t.Errorf("%s archive digest %s, want %s (of %s)", tt.eco, got, want, tt.canonical)
		}
		for _, reg := range tt.registry {
			if got := mustDigest(t, metadataDigest, tt.eco, reg); got != want {
				t.Errorf("%s registry digest %s, want %s, of %.60q", tt.eco, got, want, reg)
			}
		}
	}
}

// TestManifestDigestChanges: any change a resolver would see changes it.
func TestManifestDigestChanges(t *testing.T) {
	base := mustDigest(t, metadataDigest, Composer, composerP2)
	for _, change := range []struct{ old, new string }{
		{`"php": ">=8.1"`, `"php": ">=8.0"`},
		{`"require": {`, `"require": {"evil/pkg": "*", `},
		{`"replace": {"acme/old-foo": "self.version"}`, `"replace": {}`},
		{`"require-dev"`, `"conflict": {"acme/bar": "<1.5"}, "require-dev"`},
		{`"require-dev"`, `"provide": {"psr/log-implementation": "1.0"}, "require-dev"`},
	} {
		doc := strings.Replace(composerP2, change.old, change.new, 1)
		if mustDigest(t, metadataDigest, Composer, doc) == base {
			t.Errorf("digest unchanged by %s → %s", change.old, change.new)
		}
	}
	npmBase := mustDigest(t, metadataDigest, NPM, npm10Version)
	for _, change := range []struct{ old, new string }{
		{`"a": "^1.0.0"`, `"a": "^1.0.1"`},
		{`"peerDependencies": {"react": ">=18"}`, `"peerDependencies": {}`},
		{`"c": "^3.0.0"}`, `"c": "^3.0.0", "e": "1"}`},
	} {
		doc := strings.Replace(npm10Version, change.old, change.new, 1)
		if mustDigest(t, metadataDigest, NPM, doc) == npmBase {
			t.Errorf("digest unchanged by %s → %s", change.old, change.new)
		}
	}
	// Irrelevant fields do not count.
	doc := strings.Replace(npm10Version, `"name": "@acme/foo"`, `"description": "x", "devDependencies": {"y": "1"}, "name": "@acme/foo"`, 1)
	if mustDigest(t, metadataDigest, NPM, doc) != npmBase {
		t.Error("digest changed by description and devDependencies")
	}
}

func TestPackagistConstraint(t *testing.T) {
	tests := []struct{ in, want string }{
		{">=1.0@dev,<2.0", ">=1.0-dev,<2.0"},
		{">=1.0@stable, <2", ">=1.0, <2"},
		{">=1.0@STABLE, <2", ">=1.0-STABLE, <2"},
		{">= 1.0@RC, < 2.0@beta", ">= 1.0-RC, < 2.0-beta"},
		{"1.0.*@beta", "1.0.*@beta"},             // no comma: kept
		{"^1.0@dev || ^2.0", "^1.0@dev || ^2.0"}, // no comma: kept
		{"^1.0@dev, >=1.2", "^1.0@dev, >=1.2"},   // no operator before the @
		{">=1.0@\u212aelvin,<2", ">=1.0@\u212aelvin,<2"},
		{"self.version", "self.version"},
	}
	for _, tt := range tests {
		if got := packagistConstraint(tt.in); got != tt.want {
			t.Errorf("packagistConstraint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The registry's copy is taken as it is, not rewritten again.
	raw := `{"require": {"a/b": ">=1.0@dev,<2.0"}}`
	if mustDigest(t, ManifestDigest, Composer, raw) == mustDigest(t, metadataDigest, Composer, raw) {
		t.Error("metadata side applied Packagist's rewrite")
	}
}

func TestManifestDigestEmpty(t *testing.T) {
	want := sha256Digest("{}")
	for eco, docs := range map[string][]string{
		Composer: {`{}`, `{"require": [], "conflict": {}, "replace": null, "name": "a/b"}`},
		NPM:      {`{}`, `{"dependencies": {}, "peerDependencies": [], "optionalDependencies": null}`},
	} {
		for _, doc := range docs {
			for _, f := range []func(string, []byte) (string, error){ManifestDigest, metadataDigest} {
				if got := mustDigest(t, f, eco, doc); got != want {
					t.Errorf("%s %s: %s, want %s", eco, doc, got, want)
				}
			}
		}
	}
	// npm: removing what optionalDependencies lists may empty dependencies.
	if got := mustDigest(t, ManifestDigest, NPM, `{"dependencies": {"a": "1"}, "optionalDependencies": {"a": "1"}}`); got != sha256Digest(`{"optionalDependencies":{"a":"1"}}`) {
		t.Errorf("optional dedupe: %s", got)
	}
}

func TestManifestDigestRefused(t *testing.T) {
	tests := []struct {
		eco, doc, detail string
	}{
		{Composer, `{"require": "php >=8"}`, "not a string"},
		{Composer, `{"require": ["php"]}`, "non-empty array"},
		{Composer, `{"conflict": 1}`, "not a number"},
		{Composer, `{"require": {"php": 8}}`, "constraint must be a string, not a number"},
		{Composer, `{"require": {"php": null}}`, "not null"},
		{Composer, `{"require": {"php": {">=": "8"}}}`, "not an object"},
		{Composer, `{"require": {"Acme/Bar": "1", "acme/bar": "2"}}`, "appears twice"},
		{Composer, `{"require": {"a/b": "1", "a/b": "2"}}`, "require"},
		{Composer, `{"require": {"a/b": "1\u001b[31m"}}`, "control character"},
		{Composer, `{"require": {"a/b": "\ud800"}}`, "require"},
		{Composer, `{"require": "__unset"}`, "expand minified"},
		{Composer, "{\"require\": {\"a/b\": \"\xff\"}}", "UTF-8"},
		{Composer, `[]`, "not a JSON object"},
		{Composer, `null`, "not a JSON object"},
		{Composer, `{"require": {}`, "not a JSON object"},
		{NPM, `{"dependencies": "a b c"}`, "not a string"},
		{NPM, `{"dependencies": ["a@1"]}`, "non-empty array"},
		{NPM, `{"peerDependencies": {"react": true}}`, "not a boolean"},
		{NPM, `{"optionalDependencies": {"a": "1", "a": "1"}}`, "optionalDependencies"},
		{"pypi", `{}`, "unknown ecosystem"},
		{NPM, `{"description": "` + strings.Repeat("x", maxManifestBytes) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		for name, f := range map[string]func(string, []byte) (string, error){"archive": ManifestDigest, "metadata": metadataDigest} {
			_, err := f(tt.eco, []byte(tt.doc))
			if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("%s %s %.50q: err = %v, want ErrManifest saying %q", name, tt.eco, tt.doc, err, tt.detail)
			}
		}
	}
}

// TestBundled: npm adds bundled names missing from dependencies as "*",
// reading bundleDependencies as npm 10 does.
func TestBundled(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"bundleDependencies": ["x", 1, ""]}`, `{"dependencies":{"x":"*"}}`},
		{`{"bundledDependencies": ["x"]}`, `{"dependencies":{"x":"*"}}`},
		{`{"bundleDependencies": {"x": "1"}}`, `{"dependencies":{"x":"*"}}`},
		{`{"bundleDependencies": true, "dependencies": {"x": "1"}}`, `{"dependencies":{"x":"1"}}`},
		{`{"bundleDependencies": ["x"], "dependencies": {"x": "1"}}`, `{"dependencies":{"x":"1"}}`},
		{`{"bundleDependencies": ["x"], "optionalDependencies": {"x": "1"}}`, `{"optionalDependencies":{"x":"1"}}`},
		{`{"bundleDependencies": null, "bundledDependencies": ["x"]}`, `{}`},
	}
	for _, tt := range tests {
		if got := mustDigest(t, ManifestDigest, NPM, tt.doc); got != sha256Digest(tt.want) {
			t.Errorf("%s: digest is not that of %s", tt.doc, tt.want)
		}
	}
}

func FuzzManifestDigest(f *testing.F) {
	for _, doc := range []string{composerJSON, composerP2, packageJSON, npm10Version, `{"require":{"a/b":">=1@dev,<2"}}`, `{"bundleDependencies":true}`} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, eco := range []string{Composer, NPM} {
			a, errA := ManifestDigest(eco, []byte(doc))
			m, errM := MetadataManifestDigest(eco, []byte(doc))
			a2, errA2 := ManifestDigest(eco, []byte(doc))
			if a != a2 || fmt.Sprint(errA) != fmt.Sprint(errA2) {
				t.Fatalf("%s: not deterministic", eco)
			}
			for _, err := range []error{errA, errM} {
				if err != nil && !errors.Is(err, ErrManifest) {
					t.Fatalf("%s: error wraps no sentinel: %v", eco, err)
				}
			}
			// Both sides parse alike; only Packagist's rewrite, of
			// constraints holding "@", makes them differ.
			if (errA == nil) != (errM == nil) {
				t.Fatalf("%s: archive side %v, metadata side %v", eco, errA, errM)
			}
			if errA == nil && a != m && (eco == NPM || !strings.Contains(doc, "@")) {
				t.Fatalf("%s: archive digest %s, metadata digest %s", eco, a, m)
			}
			if errA == nil && (!strings.HasPrefix(a, "sha256:") || len(a) != len("sha256:")+64) {
				t.Fatalf("%s: digest %q", eco, a)
			}
		}
	})
}

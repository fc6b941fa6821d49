package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"replace": {"acme/old-foo": "self.version"},
	"autoload": {"psr-4": {"Acme\\": "src/"}}, "type": "library"
}`
	composerCanonical = `{"autoload":{"psr-4":{"Acme\\":"src/"}},"replace":{"acme/old-foo":"self.version"},"require":{"acme/bar":"^1.0","monolog/monolog":">=1.0-dev,<2.0","php":">=8.1"}}`
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
	npmCanonical = `{"bundleDependencies":["d"],"dependencies":{"a":"^1.0.0","d":"*"},"optionalDependencies":{"b":"^2.0.0","c":"^3.0.0"},"peerDependencies":{"react":">=18"}}`
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
		{Composer, `{"type": 1}`, "type must be a string"},
		{Composer, `{"extra": "x"}`, "extra must be an object"},
		{Composer, `{"autoload": {"files": [], "files": []}}`, "appears twice"},
		{Composer, `{"bin": {"a": "b"}}`, "bin must be an array"},
		{Composer, `{"include-path": "lib"}`, "include-path must be an array"},
		{Composer, `{"extra": "__unset"}`, "expand minified"},
		{NPM, `{"engines": {"node": "1", "node": "2"}}`, "engines"},
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
		{`{"bundleDependencies": ["x", 1, "", "x"]}`, `{"bundleDependencies":["x"],"dependencies":{"x":"*"}}`},
		{`{"bundledDependencies": ["x"]}`, `{"bundleDependencies":["x"],"dependencies":{"x":"*"}}`},
		{`{"bundleDependencies": {"x": "1"}}`, `{"bundleDependencies":["x"],"dependencies":{"x":"*"}}`},
		{`{"bundleDependencies": true, "dependencies": {"x": "1"}}`, `{"bundleDependencies":["x"],"dependencies":{"x":"1"}}`},
		{`{"bundleDependencies": ["x"], "dependencies": {"x": "1"}}`, `{"bundleDependencies":["x"],"dependencies":{"x":"1"}}`},
		{`{"bundleDependencies": ["x"], "optionalDependencies": {"x": "1"}}`, `{"bundleDependencies":["x"],"optionalDependencies":{"x":"1"}}`},
		{`{"bundleDependencies": false, "dependencies": {"x": "1"}}`, `{"dependencies":{"x":"1"}}`},
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

// TestManifestFieldsCovered: every field ManifestFields names changes the
// digest, on both sides.
func TestManifestFieldsCovered(t *testing.T) {
	values := map[string]string{
		"require": `{"a/b":"1"}`, "conflict": `{"a/b":"1"}`, "replace": `{"a/b":"1"}`, "provide": `{"a/b":"1"}`,
		"type": `"composer-plugin"`, "extra": `{"class":"X"}`, "autoload": `{"files":["../x.php"]}`,
		"include-path": `["lib/"]`, "target-dir": `"X/Y"`, "bin": `["bin/x"]`, "php-ext": `{"extension-name":"x"}`,
	}
	npmValues := map[string]string{
		"dependencies": `{"a":"1"}`, "optionalDependencies": `{"a":"1"}`, "peerDependencies": `{"a":"1"}`,
		"peerDependenciesMeta": `{"a":{"optional":true}}`, "acceptDependencies": `{"a":"2"}`,
		"bundleDependencies": `["a"]`, "bundledDependencies": `["a"]`, "os": `["linux"]`, "cpu": `["x64"]`,
		"libc": `["glibc"]`, "engines": `{"node":">=18"}`, "bin": `{"x":"bin/x"}`,
		"hasInstallScript": `true`,
	}
	for eco, vals := range map[string]map[string]string{Composer: values, NPM: npmValues} {
		fields := ManifestFields(eco)
		if len(fields) != len(vals) {
			t.Errorf("%s: %d fields, test has %d", eco, len(fields), len(vals))
		}
		empty := sha256Digest("{}")
		for _, f := range fields {
			doc := `{"name":"a/b",` + `"` + f + `":` + vals[f] + `}`
			if got := mustDigest(t, metadataDigest, eco, doc); got == empty {
				t.Errorf("%s metadata: %s does not change the digest", eco, f)
			}
		}
	}
	if ManifestFields("pypi") != nil {
		t.Error("unknown ecosystem has fields")
	}
}

// TestManifestFolds: what the client cannot tell apart digests alike, on
// both sides.
func TestManifestFolds(t *testing.T) {
	same := [][2]string{
		{`{"extra":{}}`, `{}`},
		{`{"extra":{"a":{}}}`, `{"extra":{"a":[]}}`},
		{`{"extra":{"a":{"0":"x","1":"y"}}}`, `{"extra":{"a":["x","y"]}}`},
		{`{"type":"Library"}`, `{}`},
		{`{"type":"Composer-Plugin"}`, `{"type":"composer-plugin"}`},
		{`{"bin":"/bin/x"}`, `{"bin":["bin/x"]}`},
		{`{"autoload":[]}`, `{"autoload":{}}`},
	}
	for _, s := range same {
		for _, f := range []func(string, []byte) (string, error){ManifestDigest, metadataDigest} {
			if mustDigest(t, f, Composer, s[0]) != mustDigest(t, f, Composer, s[1]) {
				t.Errorf("composer %s and %s differ", s[0], s[1])
			}
		}
	}
	differ := [][2]string{
		{`{"extra":{"a":{"1":"x","0":"y"}}}`, `{"extra":{"a":["y","x"]}}`},
		{`{"autoload":{"files":["a.php"]}}`, `{"autoload":{"files":["b.php"]}}`},
		{`{"extra":{"a":1}}`, `{"extra":{"a":"1"}}`},
	}
	for _, s := range differ {
		if mustDigest(t, metadataDigest, Composer, s[0]) == mustDigest(t, metadataDigest, Composer, s[1]) {
			t.Errorf("composer %s and %s digest alike", s[0], s[1])
		}
	}
}

// TestNPMPublishRewrites: a package.json and the archive's root files give
// the digest of what npm publish stores.
func TestNPMPublishRewrites(t *testing.T) {
	tests := []struct {
		name, pkg string
		root      []string
		registry  string
	}{
		{"gyp", `{"name":"x"}`, []string{"binding.gyp", "package.json"},
			`{"name":"x","gypfile":true,"scripts":{"install":"node-gyp rebuild"}}`},
		{"gyp with preinstall", `{"scripts":{"preinstall":"a"}}`, []string{"binding.gyp"},
			`{"scripts":{"preinstall":"a","test":"t"},"hasInstallScript":true}`},
		{"gyp off", `{"gypfile":false}`, []string{"binding.gyp"}, `{}`},
		{"scripts are only a flag", `{"scripts":{"install":"a"}}`, nil, `{"hasInstallScript":true}`},
		{"scriptpath", `{"scripts":{"postinstall":"./node_modules/.bin/foo x","test":1}}`, nil,
			`{"scripts":{"postinstall":"foo x"}}`},
		// Some registries never write _hasShrinkwrap: the archive's file
		// is checked on its own (HasShrinkwrap), not in the digest.
		{"shrinkwrap", `{}`, []string{"npm-shrinkwrap.json"}, `{}`},
		{"shrinkwrap flagged", `{}`, []string{"npm-shrinkwrap.json"}, `{"_hasShrinkwrap":true}`},
		{"bin string", `{"name":"@s/tool","bin":"./cli.js"}`, nil, `{"bin":{"tool":"cli.js"}}`},
		{"bin array", `{"bin":["bin/a.js","./b"]}`, nil, `{"bin":{"a.js":"bin/a.js","b":"b"}}`},
		{"bin object", `{"bin":{"../x":"../../etc/x","y:z":"a\\b","":"c","d":""}}`, nil, `{"bin":{"x":"etc/x","z":"a/b"}}`},
		{"install flag", `{"scripts":{"install":"x"}}`, nil, `{"hasInstallScript":true,"scripts":{"install":"x"}}`},
		// Published before npm normalized bin on publish: the registry
		// kept "./bin/x", which npm reads as "bin/x".
		{"bin kept as written", `{"bin":{"esparse":"./bin/esparse.js"}}`, nil, `{"bin":{"esparse":"./bin/esparse.js"}}`},
	}
	for _, tt := range tests {
		a, err := ArchiveManifestDigest(NPM, &ArchiveInfo{Manifest: []byte(tt.pkg), RootFiles: tt.root})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if m := mustDigest(t, metadataDigest, NPM, tt.registry); a != m {
			t.Errorf("%s: archive and registry digests differ", tt.name)
		}
	}
	// The registry's copy cannot add an install script or a bin.
	base := mustDigest(t, ManifestDigest, NPM, `{"name":"x"}`)
	for _, reg := range []string{`{"hasInstallScript":true}`, `{"scripts":{"install":"x"}}`,
		`{"bin":{"x":"y"}}`, `{"os":["linux"]}`} {
		if mustDigest(t, metadataDigest, NPM, reg) == base {
			t.Errorf("%s digests like an empty package.json", reg)
		}
	}
}

func TestArchiveWithoutManifest(t *testing.T) {
	for _, eco := range []string{Composer, NPM} {
		d, err := ArchiveManifestDigest(eco, &ArchiveInfo{})
		if err != nil || d != sha256Digest("{}") {
			t.Errorf("%s: %s, %v", eco, d, err)
		}
	}
}

// TestManifestDigestNPMBinString: the registry keeps the string form of
// bin that old publishes sent (a packument's "bin": "./bin/jest.js"); the
// metadata side reads it as npm does, and so equals the archive side.
// Refusing it blocked every such package.
func TestManifestDigestNPMBinString(t *testing.T) {
	for _, doc := range []string{
		`{"name":"jest","version":"29.7.0","bin":"./bin/jest.js"}`,
		`{"name":"@s/tool","version":"1.0.0","bin":["./cli.js"]}`,
	} {
		m, err := MetadataManifestDigest(NPM, []byte(doc))
		if err != nil {
			t.Fatalf("%s: metadata side: %v", doc, err)
		}
		a, err := ManifestDigest(NPM, []byte(doc))
		if err != nil || a != m {
			t.Errorf("%s: archive side %s %v, metadata side %s", doc, a, err, m)
		}
		none, _ := MetadataManifestDigest(NPM, []byte(`{"name":"jest","version":"29.7.0"}`))
		if m == none {
			t.Errorf("%s: bin does not count", doc)
		}
	}
}

// TestMetadataManifestInputsSuffice: the digest of a version object cut
// down to MetadataManifestInputs, as the fronts digest it, equals the
// whole object's; a string bin needs the package's name.
func TestMetadataManifestInputsSuffice(t *testing.T) {
	whole := map[string]json.RawMessage{
		"name": json.RawMessage(`"jsesc"`), "version": json.RawMessage(`"3.1.0"`),
		"bin": json.RawMessage(`"bin/jsesc"`), "engines": json.RawMessage(`{"node":">=6"}`),
		"scripts": json.RawMessage(`{"install":"node x.js"}`), "description": json.RawMessage(`"d"`),
	}
	cut := map[string]json.RawMessage{}
	for _, k := range MetadataManifestInputs(NPM) {
		if v, ok := whole[k]; ok {
			cut[k] = v
		}
	}
	wb, _ := json.Marshal(whole)
	cb, _ := json.Marshal(cut)
	w, err1 := MetadataManifestDigest(NPM, wb)
	c, err2 := MetadataManifestDigest(NPM, cb)
	if err1 != nil || err2 != nil || w != c {
		t.Errorf("whole %s %v, cut %s %v", w, err1, c, err2)
	}
}

package release

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// npmManifest picks the fields npm acts on from a package.json (archive side)
// or a packument's versions[v] (metadata side).
//
// Both sides fold what npm's installer folds: bundleDependencies (or its
// misspelling bundledDependencies) is the set of names it lists (an array's
// strings, an object's keys, every dependency for true), each of which is
// in dependencies ("*" when missing: npm's normalize-data.js since npm 9.8,
// normalize-package-data before); a name in optionalDependencies is dropped
// from dependencies (older npm copied it there on publish, npm 9.8 and later
// do not, and the installer drops it either way: optionalDedupe); scripts
// count only through hasInstallScript, which is @npmcli/arborist's (the
// flag, or a preinstall, install or postinstall script).
//
// The archive side also applies what "npm publish" does to the manifest
// before the registry stores it (@npmcli/package-json prepare steps):
// scripts that are not strings are dropped and a leading
// "node_modules/.bin/" is cut (scriptpath); install becomes "node-gyp
// rebuild" when a *.gyp file is at the root and neither install nor
// preinstall is set, unless gypfile is false; bin is normalized as
// npm-normalize-package-bin does (a string is {name without scope: path},
// an array is {basename: path}, names are base names, paths are cleaned
// and relative). Not reproduced, so a manifest must already be in the form npm
// stores: directories.bin expanded into bin, hosted git specs in
// hosted-git-info's canonical form, dependency fields given as strings or
// arrays (refused here).
func npmManifest(top map[string]json.RawMessage, rootFiles []string, fromArchive bool) (map[string]any, error) {
	out := map[string]any{}
	maps := map[string]map[string]string{}
	for _, f := range []string{"dependencies", "optionalDependencies", "peerDependencies", "acceptDependencies"} {
		m, err := dependencyMap(f, top[f])
		if err != nil {
			return nil, err
		}
		maps[f] = m
	}
	deps := maps["dependencies"]
	names := bundled(top, deps)
	for _, name := range names {
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
	for f, m := range maps {
		if len(m) > 0 {
			out[f] = m
		}
	}
	if len(names) > 0 {
		out["bundleDependencies"] = names
	}
	for _, f := range []string{"peerDependenciesMeta", "os", "cpu", "libc", "engines"} {
		v, err := freeJSON(top, f)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[f] = v
		}
	}
	if err := npmBin(out, top); err != nil {
		return nil, err
	}
	gypOff := string(top["gypfile"]) == "false"
	scripts, err := npmScripts(top, fromArchive)
	if err != nil {
		return nil, err
	}
	if fromArchive && scripts["install"] == "" && scripts["preinstall"] == "" && !gypOff && slices.ContainsFunc(rootFiles, func(n string) bool { return strings.HasSuffix(n, ".gyp") }) {
		scripts["install"] = "node-gyp rebuild"
	}
	if len(scripts) > 0 || string(top["hasInstallScript"]) == "true" {
		out["hasInstallScript"] = true
	}
	return out, nil
}

// HasShrinkwrap reports whether an npm archive holds npm-shrinkwrap.json at
// its root: what a version object's "_hasShrinkwrap": true claims, and
// what makes npm build the package's subtree from that file.
func HasShrinkwrap(info *ArchiveInfo) bool {
	return slices.Contains(info.RootFiles, "npm-shrinkwrap.json")
}

// installScripts are the scripts npm runs when it installs a dependency
// from a registry (@npmcli/arborist rebuild.js; prepare only runs for git
// and directory dependencies).
var installScripts = []string{"preinstall", "install", "postinstall"}

// npmScripts returns the non-empty install scripts.
func npmScripts(top map[string]json.RawMessage, fromArchive bool) (map[string]string, error) {
	out := map[string]string{}
	raw, err := manifestField(top, "scripts")
	if err != nil || raw == nil {
		return out, err
	}
	var all map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &all) != nil {
		if fromArchive {
			return out, nil // npm publish removes an invalid "scripts"
		}
		return nil, fmt.Errorf("%w: scripts must be an object, not %s", ErrManifest, jsonKind(raw))
	}
	for _, name := range installScripts {
		v, ok := all[name]
		if !ok || isNull(v) {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			if fromArchive {
				continue
			}
			return nil, fmt.Errorf("%w: scripts.%s must be a string, not %s", ErrManifest, name, jsonKind(v))
		}
		if fromArchive {
			s = scriptPath(s)
		}
		if s != "" {
			out[name] = s
		}
	}
	return out, nil
}

// scriptPath is @npmcli/package-json's scriptpath step, whose pattern is
// /^(\.[/\\])?node_modules[/\\].bin[\\/]/ (its "." matches any
// character).
func scriptPath(s string) string {
	rest := s
	if len(rest) >= 2 && rest[0] == '.' && (rest[1] == '/' || rest[1] == '\\') {
		rest = rest[2:]
	}
	const n = len("node_modules/.bin/")
	if len(rest) >= n && rest[:12] == "node_modules" && isSlash(rest[12]) && rest[13] != '\n' && rest[13] != '\r' && rest[14:17] == "bin" && isSlash(rest[17]) {
		return rest[n:]
	}
	return s
}

func isSlash(c byte) bool { return c == '/' || c == '\\' }

// npmBin sets out["bin"] as npm-normalize-package-bin reads it, on both
// sides: the registry keeps the string and list forms that old publishes
// sent ("bin": "./cli.js" in a packument), so the metadata side cannot
// insist on an object; entries that are not strings count on neither
// side, as npm drops them. Both sides fold each name
// and path as npm does when it reads a package.json ("./bin/x" and "bin/x"
// are one path to the client): packages published before npm normalized
// on publish keep "./bin/x" in the registry's metadata, while the archive
// side normalizes it.
func npmBin(out map[string]any, top map[string]json.RawMessage) error {
	raw, err := manifestField(top, "bin")
	if err != nil || raw == nil {
		return err
	}
	var src map[string]string
	var one string
	var list []string
	var obj map[string]json.RawMessage
	switch {
	case json.Unmarshal(raw, &one) == nil:
		name, _ := stringField(top, "name")
		if name == "" || one == "" {
			return nil
		}
		src = map[string]string{name: one}
	case json.Unmarshal(raw, &list) == nil:
		src = map[string]string{}
		for _, p := range list {
			src[nodeBasename(p)] = p
		}
	case json.Unmarshal(raw, &obj) == nil:
		src = map[string]string{}
		for k, v := range obj {
			var s string
			if json.Unmarshal(v, &s) == nil {
				src[k] = s
			}
		}
	}
	return setBin(out, src)
}

// setBin sets out["bin"] to src with names and paths folded as npm folds
// them, entries that fold to nothing dropped.
func setBin(out map[string]any, src map[string]string) error {
	clean := map[string]string{}
	for _, k := range sortedKeysOf(src) {
		base := nodeRootJoin(nodeBasename(strings.NewReplacer(`\`, "/", ":", "/").Replace(k)))
		target := nodeRootJoin(strings.ReplaceAll(src[k], `\`, "/"))
		if base == "" || target == "" {
			continue
		}
		if hasControl(base) || hasControl(target) {
			return fmt.Errorf("%w: bin: %s: control character", ErrManifest, quoteEntry(k))
		}
		clean[base] = target
	}
	if len(clean) > 0 {
		out["bin"] = clean
	}
	return nil
}

// nodeBasename is Node's path.posix.basename: trailing slashes do not count.
func nodeBasename(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// nodeRootJoin is path.join("/", p).slice(1): p cleaned, made relative, a
// trailing slash kept.
func nodeRootJoin(p string) string {
	c := path.Clean("/" + p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c[1:]
}

// bundled returns the names bundleDependencies (or its misspelling
// bundledDependencies, which npm renames) lists, sorted and each once: an
// array's strings, an object's keys, every name of deps for true; false
// and anything else list none.
func bundled(top map[string]json.RawMessage, deps map[string]string) []string {
	raw, ok := top["bundleDependencies"]
	if !ok {
		raw = top["bundledDependencies"]
	}
	var names []string
	var list []any
	var obj map[string]json.RawMessage
	switch {
	case string(raw) == "true":
		names = sortedKeysOf(deps)
	case json.Unmarshal(raw, &list) == nil:
		for _, v := range list {
			if s, ok := v.(string); ok && s != "" {
				names = append(names, s)
			}
		}
	case json.Unmarshal(raw, &obj) == nil:
		names = sortedKeysOf(obj)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

package release

import (
	"encoding/json"
	"fmt"
	"strings"
)

// composerManifest picks the fields Composer acts on from a composer.json or
// a p2 version entry. Beside the links' lowercased names and Packagist's
// constraint rewrite (archive side only, see ArchiveManifestDigest), the
// folds are Composer's own (ArrayLoader): the type is lowercased and
// defaults to "library"; a bin given as one string is a list of one, each
// path without leading "/"; and every object reads as a PHP array, so that
// {} and [] are one value (see phpCanonical).
func composerManifest(top map[string]json.RawMessage, fromArchive bool) (map[string]any, error) {
	out := map[string]any{}
	for _, field := range []string{"require", "conflict", "replace", "provide"} {
		links, err := composerLinks(field, top[field], fromArchive)
		if err != nil {
			return nil, err
		}
		if len(links) > 0 {
			out[field] = links
		}
	}
	typ, err := stringField(top, "type")
	if err != nil {
		return nil, err
	}
	if typ = asciiLower(typ); typ != "" && typ != "library" {
		out["type"] = typ
	}
	targetDir, err := stringField(top, "target-dir")
	if err != nil {
		return nil, err
	}
	if targetDir != "" {
		out["target-dir"] = targetDir
	}
	bin, err := composerBin(top)
	if err != nil {
		return nil, err
	}
	if len(bin) > 0 {
		out["bin"] = bin
	}
	includePath, err := stringList(top, "include-path")
	if err != nil {
		return nil, err
	}
	if len(includePath) > 0 {
		out["include-path"] = includePath
	}
	for _, field := range []string{"autoload", "extra", "php-ext"} {
		v, err := phpCanonical(field, top[field])
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[field] = v
		}
	}
	return out, nil
}

func composerLinks(field string, raw json.RawMessage, fromArchive bool) (map[string]string, error) {
	links, err := dependencyMap(field, raw)
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
	return lower, nil
}

// composerBin is ArrayLoader's bin: one string or a list of strings, each
// without its leading slashes.
func composerBin(top map[string]json.RawMessage) ([]string, error) {
	raw, err := manifestField(top, "bin")
	if err != nil || raw == nil {
		return nil, err
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if hasControl(one) {
			return nil, fmt.Errorf("%w: bin: control character", ErrManifest)
		}
		return []string{strings.TrimLeft(one, "/")}, nil
	}
	list, err := stringList(top, "bin")
	for i, b := range list {
		list[i] = strings.TrimLeft(b, "/")
	}
	return list, err
}

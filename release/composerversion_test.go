package release

import (
	"strings"
	"testing"
)

func TestComposerTagVersion(t *testing.T) {
	for _, c := range []struct{ tag, manifest, version, normalized, err string }{
		{tag: "v1.2.3", version: "v1.2.3", normalized: "1.2.3.0"},
		{tag: "1.2", version: "1.2", normalized: "1.2.0.0"},
		{tag: "release-1.0.0", version: "1.0.0", normalized: "1.0.0.0"},
		{tag: "v1.0.0", manifest: "1.0.0", version: "1.0.0", normalized: "1.0.0.0"},
		{tag: "v1.0.0", manifest: "1.0.1", err: "does not match"},
		{tag: "v1.0.0-dev", err: "dev version"},
		{tag: "latest", err: "invalid version"},
	} {
		v, n, err := ComposerTagVersion(c.tag, c.manifest)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ComposerTagVersion(%q, %q) = %q, %v; want error %q", c.tag, c.manifest, v, err, c.err)
		case c.err == "" && (err != nil || v != c.version || n != c.normalized):
			t.Errorf("ComposerTagVersion(%q, %q) = %q, %q, %v; want %q, %q", c.tag, c.manifest, v, n, err, c.version, c.normalized)
		}
	}
}

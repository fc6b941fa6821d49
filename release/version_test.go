package release

import (
	"errors"
	"strings"
	"testing"
)

// The expectations are composer/semver's VersionParserTest::successfulNormalizedVersions.
func TestNormalizeComposerVersion(t *testing.T) {
	for in, want := range map[string]string{
		"1.0.0": "1.0.0.0", "v1.0.0": "1.0.0.0", "V1.0.0": "1.0.0.0", "1.2.3.4": "1.2.3.4", "1": "1.0.0.0",
		"1.0.0RC1dev": "1.0.0.0-RC1-dev", "1.0.0-rC15-dev": "1.0.0.0-RC15-dev", "1.0.0.RC.15-dev": "1.0.0.0-RC15-dev",
		"1.0.0-rc1": "1.0.0.0-RC1", "1.0.0-pl3-dev": "1.0.0.0-patch3-dev", "1.0-dev": "1.0.0.0-dev",
		"0": "0.0.0.0", "10.4.13-beta": "10.4.13.0-beta", "10.4.13beta2": "10.4.13.0-beta2",
		"10.4.13beta.2": "10.4.13.0-beta2", "v1.13.11-beta.0": "1.13.11.0-beta0", "10.4.13-b": "10.4.13.0-beta",
		"10.4.13-b5": "10.4.13.0-beta5", "v2.0.4-p": "2.0.4.0-patch", "1.0.0-stable": "1.0.0.0",
		"1.0.0+foo@dev": "1.0.0.0", "1.0.0 as 2.0": "1.0.0.0", "20100102": "20100102",
		"2010.01.02": "2010.01.02.0", "2010-01-02": "2010.01.02", "2010-01-02.5": "2010.01.02.5", "20100102-203040": "20100102.203040",
		"20100102203040-10": "20100102203040.10", "20100102-203040-p1": "20100102.203040-patch1",
		"dev-master": "dev-master", "dev-trunk": "dev-trunk", "1.x-dev": "1.9999999.9999999.9999999-dev",
		"dev-feature-foo": "dev-feature-foo", "DEV-FOOBAR": "dev-FOOBAR", "dev-feature/foo": "dev-feature/foo",
		"dev-feature+issue-1": "dev-feature+issue-1", "master": "dev-master", "trunk": "dev-trunk",
		"1.0.0-beta.5+foo": "1.0.0.0-beta5", "2.x-dev": "2.9999999.9999999.9999999-dev", " 1.0.0 ": "1.0.0.0",
	} {
		got, err := NormalizeComposerVersion(in)
		if err != nil || got != want {
			t.Errorf("normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "1.0.0-meh", "1.0.0.0.0", "feature-foo", "1.0 .2", "1.0.0+foo bar"} {
		if got, err := NormalizeComposerVersion(bad); !errors.Is(err, ErrVersion) {
			t.Errorf("normalize(%q) = %q, %v; want ErrVersion", bad, got, err)
		}
	}
	if !IsComposerDev("dev-main") || !IsComposerDev("2.9999999.9999999.9999999-dev") || IsComposerDev("1.0.0.0") {
		t.Error("IsComposerDev")
	}
}

func FuzzNormalizeComposerVersion(f *testing.F) {
	for _, s := range []string{"v1.0.0", "1.0.0-RC1", "dev-main", "2.x-dev", "20100102-203040-p1", "1.0 as 2.0@dev"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := NormalizeComposerVersion(v)
		if err != nil {
			return
		}
		// Normalizing is idempotent on what Composer itself produces,
		// except that a dev branch keeps its name, and that a date version
		// of other than four parts ("2010-01" is "2010.01") reads as a
		// classical version the second time ("2010.01.0.0"), in Composer
		// too; that one is then a fixed point.
		n2, err := NormalizeComposerVersion(n)
		if strings.HasPrefix(n, "dev-") {
			return
		}
		if err != nil {
			t.Fatalf("normalize(%q) = %q, normalize(%q): %v", v, n, n, err)
		}
		numeric, _, _ := strings.Cut(n, "-")
		if n2 != n && strings.Count(numeric, ".") != 3 {
			n3, err := NormalizeComposerVersion(n2)
			if err != nil || n3 != n2 {
				t.Fatalf("normalize(%q) = %q, then %q, then %q, %v", v, n, n2, n3, err)
			}
			return
		}
		if n2 != n {
			t.Fatalf("normalize(%q) = %q, normalize(%q) = %q", v, n, n, n2)
		}
	})
}

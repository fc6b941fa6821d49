package release

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

// Digests of something, in the statement formats.
var (
	testTree     = "h1:" + base64.StdEncoding.EncodeToString(sum256("tree"))
	testManifest = "sha256:" + hex.EncodeToString(sum256("manifest"))
	testArchive  = "sha512-" + base64.StdEncoding.EncodeToString(sum512("archive"))
)

func sum256(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
func sum512(s string) []byte { h := sha512.Sum512([]byte(s)); return h[:] }

func testStatement() *Statement {
	return &Statement{
		Ecosystem: Composer,
		Package:   "acme/foo",
		Version:   "v1.2.3",
		Tree:      testTree,
		Source:    "0123456789abcdef0123456789abcdef01234567",
		Manifest:  testManifest,
		Archive:   testArchive,
	}
}

// lines joins lines into a note text with a final newline.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

var (
	lEco      = "ecosystem composer"
	lPkg      = "package acme/foo"
	lVer      = "version v1.2.3"
	lTree     = "tree " + testTree
	lSource   = "source 0123456789abcdef0123456789abcdef01234567"
	lManifest = "manifest " + testManifest
	lArchive  = "archive " + testArchive
)

func TestStatementRoundTrip(t *testing.T) {
	for _, text := range []string{
		lines(statementHeader, lEco, lPkg, lVer, lTree, lSource, lManifest, lArchive),
		lines(statementHeader, lEco, lPkg, lVer, lTree, lManifest),
		lines(statementHeader, lEco, lPkg, lVer, lTree, lSource, lManifest),
		lines(statementHeader, lEco, lPkg, lVer, lTree, lManifest, lArchive),
		lines(statementHeader, "ecosystem npm", "package @acme/foo", "version 1.0.0-beta.1+build.5", lTree, lManifest, lArchive),
		lines(statementHeader, "ecosystem npm", "package JSONStream", "version 1.3.5", lTree, lManifest),
		lines(statementHeader, lEco, lPkg, "version dev-main", lTree, "source v1.2.3^{commit}", lManifest),
	} {
		s, err := ParseStatement([]byte(text))
		if err != nil {
			t.Errorf("ParseStatement(%q): %v", text, err)
			continue
		}
		got, err := s.Text()
		if err != nil {
			t.Errorf("Text() of parsed %q: %v", text, err)
			continue
		}
		if string(got) != text {
			t.Errorf("round trip:\n got %q\nwant %q", got, text)
		}
		v, err := ParseText([]byte(text))
		if _, ok := v.(*Statement); !ok || err != nil {
			t.Errorf("ParseText(%q) = %T, %v; want *Statement", text, v, err)
		}
	}
}

func TestStatementText(t *testing.T) {
	s := testStatement()
	s.Source, s.Archive = "", ""
	got, err := s.Text()
	if err != nil {
		t.Fatal(err)
	}
	if want := lines(statementHeader, lEco, lPkg, lVer, lTree, lManifest); string(got) != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
}

func TestParseStatementErrors(t *testing.T) {
	h := statementHeader
	for _, tc := range []struct {
		name string
		text string
		line int    // line the error must name
		bad  string // the line the error must quote ("" for none)
		want string // substring of the error
	}{
		{"empty", "", 0, "", "empty"},
		{"header", lines("sigil-release/v2", lEco), 1, "sigil-release/v2", "first line"},
		{"unknown key", lines(h, lEco, "pakage acme/foo"), 3, "pakage acme/foo", `unknown key "pakage"`},
		{"missing middle", lines(h, lEco, lPkg, lTree, lManifest), 4, lTree, `missing "version"`},
		{"missing end", lines(h, lEco, lPkg, lVer, lTree), 6, "", `missing "manifest"`},
		{"missing optional then end", lines(h, lEco, lPkg, lVer, lTree, lSource), 7, "", `missing "manifest"`},
		{"repeated", lines(h, lEco, lPkg, lPkg, lVer), 4, lPkg, `repeated "package" line (first on line 3)`},
		{"out of order", lines(h, lEco, lPkg, lVer, lTree, lManifest, lSource), 7, lSource, "out of order"},
		{"swapped", lines(h, lPkg, lEco), 2, lPkg, `missing "ecosystem"`},
		{"trailing space", lines(h, lEco+" ", lPkg), 2, lEco + " ", "trailing white space"},
		{"leading space", lines(h, " "+lEco), 2, " " + lEco, "leading white space"},
		{"double space", lines(h, "ecosystem  composer"), 2, "ecosystem  composer", "more than one space"},
		{"empty line", lines(h, lEco, "", lPkg), 3, "", "empty line"},
		{"CRLF", strings.ReplaceAll(lines(h, lEco, lPkg), "\n", "\r\n"), 1, h + "\r", "carriage return"},
		{"CR in value", lines(h, "ecosystem comp\rposer"), 2, "ecosystem comp\rposer", "carriage return"},
		{"no final newline", strings.TrimSuffix(lines(h, lEco, lPkg, lVer, lTree, lManifest), "\n"), 6, lManifest, "missing final newline"},
		{"no key value", lines(h, "ecosystem"), 2, "ecosystem", `want "key value"`},
		{"tab", lines(h, "ecosystem\tcomposer"), 2, "ecosystem\tcomposer", "control character"},
		{"bad utf8", lines(h, "ecosystem \xff"), 2, "ecosystem \xff", "invalid UTF-8"},
		{"bad ecosystem", lines(h, "ecosystem pypi", lPkg, lVer, lTree, lManifest), 2, "ecosystem pypi", "unknown ecosystem"},
		{"uppercase composer", lines(h, lEco, "package Acme/Foo", lVer, lTree, lManifest), 3, "package Acme/Foo", "composer package name"},
		{"composer no vendor", lines(h, lEco, "package foo", lVer, lTree, lManifest), 3, "package foo", "vendor/name"},
		{"npm bad name", lines(h, "ecosystem npm", "package @acme", lVer, lTree, lManifest), 3, "package @acme", "@scope/name"},
		{"long version", lines(h, lEco, lPkg, "version "+strings.Repeat("1", 257), lTree, lManifest), 4, "version " + strings.Repeat("1", 257), "more than 256"},
		{"version nbsp", lines(h, lEco, lPkg, "version 1.0\u00a01", lTree, lManifest), 4, "version 1.0\u00a01", "white space"},
		{"tree prefix", lines(h, lEco, lPkg, lVer, "tree h2:"+testTree[3:], lManifest), 5, "tree h2:" + testTree[3:], `"h1:"`},
		{"tree short", lines(h, lEco, lPkg, lVer, "tree h1:AAAA", lManifest), 5, "tree h1:AAAA", "32 bytes"},
		{"tree url base64", lines(h, lEco, lPkg, lVer, "tree h1:-"+testTree[4:], lManifest), 5, "", "base64"},
		{"tree non-canonical", lines(h, lEco, lPkg, lVer, "tree h1:"+strings.Repeat("A", 42)+"B=", lManifest), 5, "", "base64"},
		{"manifest upper", lines(h, lEco, lPkg, lVer, lTree, strings.ToUpper(lManifest)), 6, "", "unknown key"},
		{"manifest upper hex", lines(h, lEco, lPkg, lVer, lTree, "manifest sha256:"+strings.ToUpper(testManifest[7:])), 6, "", "lowercase hex"},
		{"manifest short", lines(h, lEco, lPkg, lVer, lTree, "manifest sha256:abcd"), 6, "manifest sha256:abcd", "64 lowercase hex"},
		{"archive sha1", lines(h, lEco, lPkg, lVer, lTree, lManifest, "archive sha1-AAAA"), 7, "archive sha1-AAAA", `"sha512-"`},
		{"source too long", lines(h, lEco, lPkg, lVer, lTree, "source "+strings.Repeat("a", 300), lManifest), 6, "", "more than 256"},
		{"after end", lines(h, lEco, lPkg, lVer, lTree, lManifest, lArchive, "extra 1"), 8, "extra 1", "unknown key"},
		{"too big", lines(h, "version "+strings.Repeat("a", MaxNoteSize)), 0, "", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseStatement([]byte(tc.text))
			if err == nil {
				t.Fatalf("ParseStatement succeeded: %+v", s)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if tc.line > 0 && !strings.Contains(msg, "line "+strconv.Itoa(tc.line)+" ") && !strings.Contains(msg, "line "+strconv.Itoa(tc.line)+":") {
				t.Errorf("error %q does not name line %d", msg, tc.line)
			}
			if tc.bad != "" && !strings.Contains(msg, quote(tc.bad)) {
				t.Errorf("error %q does not quote the line %s", msg, quote(tc.bad))
			}
		})
	}
}

func TestStatementValidate(t *testing.T) {
	if err := testStatement().Validate(); err != nil {
		t.Fatalf("valid statement: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Statement)
		want   string
	}{
		{"ecosystem", func(s *Statement) { s.Ecosystem = "" }, "ecosystem: unknown ecosystem"},
		{"package", func(s *Statement) { s.Package = "acme/Foo" }, "package:"},
		{"version", func(s *Statement) { s.Version = "" }, "version: empty"},
		{"version space", func(s *Statement) { s.Version = "1 2" }, "version:"},
		{"tree", func(s *Statement) { s.Tree = "" }, "tree:"},
		{"source", func(s *Statement) { s.Source = "a b" }, "source:"},
		{"manifest", func(s *Statement) { s.Manifest = "sha256:" }, "manifest:"},
		{"archive", func(s *Statement) { s.Archive = testTree }, "archive:"},
	} {
		s := testStatement()
		tc.mutate(s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want error containing %q", tc.name, err, tc.want)
		}
		if _, err := s.Text(); err == nil {
			t.Errorf("%s: Text() of an invalid statement succeeded", tc.name)
		}
	}
}

func TestQuoteTruncates(t *testing.T) {
	long := strings.Repeat("x", 1000)
	if q := quote(long); len(q) > 100 || !strings.Contains(q, "1000 bytes") {
		t.Errorf("quote(long) = %q", q)
	}
	if q := quote("a\x00b"); q != `"a\x00b"` {
		t.Errorf("quote escapes control characters: got %s", q)
	}
}

func FuzzParseStatement(f *testing.F) {
	f.Add([]byte(lines(statementHeader, lEco, lPkg, lVer, lTree, lSource, lManifest, lArchive)))
	f.Add([]byte(lines(statementHeader, "ecosystem npm", "package @acme/foo", lVer, lTree, lManifest)))
	f.Add([]byte(lines(statementHeader, lEco, lPkg, lVer, lTree, lManifest, lSource)))
	f.Add([]byte("sigil-release/v1\r\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		s, err := ParseStatement(text)
		if err != nil {
			return
		}
		out, err := s.Text()
		if err != nil {
			t.Fatalf("Text() of parsed %q: %v", text, err)
		}
		if string(out) != string(text) {
			t.Fatalf("round trip: got %q, want %q", out, text)
		}
	})
}

package release

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Ecosystems.
const (
	Composer = "composer"
	NPM      = "npm"
)

const statementHeader = "sigil-release/v1"

// maxToken bounds version and source values: both come from registries and
// are short; a bound keeps statements small.
const maxToken = 256

// A Statement is a vendor's claim that one version of one package has
// exactly this content. Its note text is the contract in DESIGN.md.
type Statement struct {
	Ecosystem string // Composer or NPM
	Package   string // as the registry names it; Composer names are lowercase
	Version   string // exactly the version string of the registry's metadata
	Tree      string // "h1:" + base64 SHA-256: dirhash of the archive's files
	Source    string // optional: VCS commit the release was built from
	Manifest  string // "sha256:" + hex digest of the resolver-relevant manifest fields
	Archive   string // optional: "sha512-" + base64 digest of the archive bytes
}

// A field is one "key value" line of a note text, in order.
type field struct {
	key      string
	optional bool
}

var statementFields = []field{
	{"ecosystem", false},
	{"package", false},
	{"version", false},
	{"tree", false},
	{"source", true},
	{"manifest", false},
	{"archive", true},
}

// values returns the field values in statementFields order.
func (s *Statement) values() []string {
	return []string{s.Ecosystem, s.Package, s.Version, s.Tree, s.Source, s.Manifest, s.Archive}
}

// check validates every field and returns the index (in statementFields)
// of the first bad one, so that parse errors can point at its line.
func (s *Statement) check() (int, error) {
	checks := []func() error{
		func() error { return checkEcosystem(s.Ecosystem) },
		func() error { return checkPackage(s.Ecosystem, s.Package) },
		func() error { return checkToken(s.Version) },
		func() error { return checkBase64Digest(s.Tree, "h1:", 32) },
		func() error { return checkOptional(s.Source, checkToken) },
		func() error { return checkHexDigest(s.Manifest, "sha256:", 32) },
		func() error {
			return checkOptional(s.Archive, func(v string) error { return checkBase64Digest(v, "sha512-", 64) })
		},
	}
	for i, c := range checks {
		if err := c(); err != nil {
			return i, fmt.Errorf("%s: %w", statementFields[i].key, err)
		}
	}
	return -1, nil
}

// Validate reports the first field of s that breaks the statement format.
func (s *Statement) Validate() error {
	if _, err := s.check(); err != nil {
		return fmt.Errorf("release statement: %w", err)
	}
	return nil
}

// Text returns the note text of s: the header, then one line per field in
// the order of DESIGN.md, optional fields omitted when empty.
func (s *Statement) Text() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return formatFields(statementHeader, statementFields, s.values()), nil
}

// ParseStatement parses the note text of a release statement, strictly:
// the text must be exactly what Text would produce for the statement it
// describes, so that one statement has one encoding. Errors name the line.
func ParseStatement(text []byte) (*Statement, error) {
	const kind = "release statement"
	vals, err := parseFields(kind, text, statementHeader, statementFields)
	if err != nil {
		return nil, err
	}
	s := &Statement{
		Ecosystem: vals[0].value,
		Package:   vals[1].value,
		Version:   vals[2].value,
		Tree:      vals[3].value,
		Source:    vals[4].value,
		Manifest:  vals[5].value,
		Archive:   vals[6].value,
	}
	if i, err := s.check(); err != nil {
		return nil, vals[i].errorf(kind, "%w", err)
	}
	return s, nil
}

// A fieldValue is a parsed line: its value and where it was.
type fieldValue struct {
	value string
	line  int    // 1-based line number; 0 if the (optional) line was absent
	text  string // the whole line, for error messages
}

func (v fieldValue) errorf(kind, format string, args ...any) error {
	return lineError(kind, v.line, v.text, fmt.Errorf(format, args...))
}

func lineError(kind string, n int, line string, err error) error {
	return fmt.Errorf("%s: line %d %s: %w", kind, n, quote(line), err)
}

// parseFields parses a note text made of the header line and then
// "key value" lines in the order of fields, each at most once, optional ones
// possibly absent. Anything else is an error naming the line.
func parseFields(kind string, text []byte, header string, fields []field) ([]fieldValue, error) {
	if len(text) > MaxNoteSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d", kind, len(text), MaxNoteSize)
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("%s: empty text", kind)
	}
	vals := make([]fieldValue, len(fields))
	next := 0 // fields before next are seen or skipped
	n := 0
	for len(text) > 0 {
		n++
		line, rest, ok := bytes.Cut(text, []byte("\n"))
		text = rest
		l := string(line)
		if !ok {
			return nil, lineError(kind, n, l, errors.New("missing final newline"))
		}
		if err := checkLine(l); err != nil {
			return nil, lineError(kind, n, l, err)
		}
		if n == 1 {
			if l != header {
				return nil, lineError(kind, n, l, fmt.Errorf("first line must be %q", header))
			}
			continue
		}
		key, value, ok := strings.Cut(l, " ")
		if !ok {
			return nil, lineError(kind, n, l, errors.New("want \"key value\""))
		}
		if strings.HasPrefix(value, " ") {
			return nil, lineError(kind, n, l, errors.New("more than one space after the key"))
		}
		pos := -1
		for i, f := range fields {
			if f.key == key {
				pos = i
			}
		}
		switch {
		case pos < 0:
			return nil, lineError(kind, n, l, fmt.Errorf("unknown key %q", key))
		case vals[pos].line != 0:
			return nil, lineError(kind, n, l, fmt.Errorf("repeated %q line (first on line %d)", key, vals[pos].line))
		case pos < next:
			return nil, lineError(kind, n, l, fmt.Errorf("%q line out of order: it must come before %q", key, fields[next-1].key))
		}
		for j := next; j < pos; j++ {
			if !fields[j].optional {
				return nil, lineError(kind, n, l, fmt.Errorf("missing %q line before this one", fields[j].key))
			}
		}
		vals[pos] = fieldValue{value: value, line: n, text: l}
		next = pos + 1
	}
	for j := next; j < len(fields); j++ {
		if !fields[j].optional {
			return nil, fmt.Errorf("%s: line %d: missing %q line at the end of the text", kind, n+1, fields[j].key)
		}
	}
	return vals, nil
}

// checkLine refuses what would let two texts mean the same thing, or hide
// something from a reader: CR, empty lines, surrounding white space,
// control characters, invalid UTF-8.
func checkLine(l string) error {
	switch {
	case strings.Contains(l, "\r"):
		return errors.New("carriage return (lines end in \\n only)")
	case l == "":
		return errors.New("empty line")
	case !utf8.ValidString(l):
		return errors.New("invalid UTF-8")
	case strings.TrimRightFunc(l, unicode.IsSpace) != l:
		return errors.New("trailing white space")
	case strings.TrimLeftFunc(l, unicode.IsSpace) != l:
		return errors.New("leading white space")
	case strings.IndexFunc(l, unicode.IsControl) >= 0:
		return errors.New("control character")
	}
	return nil
}

// formatFields is the inverse of parseFields for valid values.
func formatFields(header string, fields []field, values []string) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteByte('\n')
	for i, f := range fields {
		if values[i] == "" {
			continue
		}
		b.WriteString(f.key)
		b.WriteByte(' ')
		b.WriteString(values[i])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func checkEcosystem(eco string) error {
	if eco != Composer && eco != NPM {
		return fmt.Errorf("unknown ecosystem %s (want %q or %q)", quote(eco), Composer, NPM)
	}
	return nil
}

func checkPackage(eco, name string) error {
	if err := checkEcosystem(eco); err != nil {
		return err
	}
	return ValidatePackage(eco, name)
}

// checkToken checks a free-form single token (version, source): non-empty,
// at most maxToken bytes, UTF-8 without white space or control characters.
func checkToken(v string) error {
	switch {
	case v == "":
		return errors.New("empty")
	case len(v) > maxToken:
		return fmt.Errorf("%d bytes, more than %d", len(v), maxToken)
	case !utf8.ValidString(v):
		return errors.New("invalid UTF-8")
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("%s contains white space or a control character", quote(v))
	}
	return nil
}

func checkOptional(v string, check func(string) error) error {
	if v == "" {
		return nil
	}
	return check(v)
}

// checkBase64Digest checks prefix + canonical standard base64 of size bytes.
// Canonical, because statements are compared as text: two spellings of one
// digest would make two "different" statements of one release.
func checkBase64Digest(v, prefix string, size int) error {
	b64, ok := strings.CutPrefix(v, prefix)
	if ok {
		d, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err == nil && len(d) == size && base64.StdEncoding.EncodeToString(d) == b64 {
			return nil
		}
	}
	return fmt.Errorf("%s is not %q and the standard base64 of %d bytes", quote(v), prefix, size)
}

// checkHexDigest checks prefix + lowercase hex of size bytes.
func checkHexDigest(v, prefix string, size int) error {
	h, ok := strings.CutPrefix(v, prefix)
	if !ok || len(h) != 2*size || strings.Trim(h, "0123456789abcdef") != "" {
		return fmt.Errorf("%s is not %q and %d lowercase hex digits", quote(v), prefix, 2*size)
	}
	return nil
}

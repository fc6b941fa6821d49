package release

import (
	"errors"
	"fmt"
	"time"
)

const observationHeader = "sigil-observed/v1"

// ObservedTimeFormat is how an observation writes its time: RFC 3339 in UTC
// to the second, one spelling per instant, so that one observation has one
// encoding.
const ObservedTimeFormat = "2006-01-02T15:04:05Z"

// An Observation is the release log's own record of what one version of
// one package was when the log fetched it from the registry it observes:
// the log, not the vendor, signs it. It says what everyone was served,
// not who wrote it. Its note text is the contract in DESIGN.md
// ("Observations").
type Observation struct {
	Ecosystem string    // Composer or NPM
	Package   string    // as the registry names it; Composer names are lowercase
	Version   string    // exactly the version string of the registry's metadata
	Tree      string    // "h1:" + base64 SHA-256: dirhash of the archive's files
	Manifest  string    // "sha256:" + hex digest of the metadata's install-relevant fields
	Archive   string    // npm: "sha512-" + base64 digest of the archive bytes; Composer: empty
	Source    string    // optional: the dist reference the metadata names
	Observed  time.Time // when the log made the observation, to the second, UTC
}

var observationFields = []field{
	{"ecosystem", false},
	{"package", false},
	{"version", false},
	{"tree", false},
	{"manifest", false},
	{"archive", true},
	{"source", true},
	{"observed", false},
}

func (o *Observation) values() []string {
	return []string{o.Ecosystem, o.Package, o.Version, o.Tree, o.Manifest, o.Archive, o.Source,
		o.Observed.UTC().Format(ObservedTimeFormat)}
}

func (o *Observation) check() (int, error) {
	checks := []func() error{
		func() error { return checkEcosystem(o.Ecosystem) },
		func() error { return checkPackage(o.Ecosystem, o.Package) },
		func() error { return checkToken(o.Version) },
		func() error { return checkBase64Digest(o.Tree, "h1:", 32) },
		func() error { return checkHexDigest(o.Manifest, "sha256:", 32) },
		func() error {
			if o.Ecosystem == NPM && o.Archive == "" {
				return errors.New("missing: an npm observation names the tarball's sha512 digest")
			}
			if o.Ecosystem == Composer && o.Archive != "" {
				return errors.New("a composer observation names no archive digest (zip bytes are not stable)")
			}
			return checkOptional(o.Archive, func(v string) error { return checkBase64Digest(v, "sha512-", 64) })
		},
		func() error { return checkOptional(o.Source, checkToken) },
		func() error {
			if o.Observed.IsZero() || o.Observed.Year() < 2000 || o.Observed.Year() > 9999 {
				return fmt.Errorf("time %s is outside the years 2000 to 9999", o.Observed.UTC().Format(time.RFC3339))
			}
			if !o.Observed.Equal(o.Observed.Truncate(time.Second)) {
				return errors.New("time has a fraction of a second")
			}
			return nil
		},
	}
	for i, c := range checks {
		if err := c(); err != nil {
			return i, fmt.Errorf("%s: %w", observationFields[i].key, err)
		}
	}
	return -1, nil
}

// Validate reports the first field of o that breaks the observation format.
func (o *Observation) Validate() error {
	if _, err := o.check(); err != nil {
		return fmt.Errorf("observation: %w", err)
	}
	return nil
}

// Text returns the note text of o, optional fields omitted when empty.
func (o *Observation) Text() ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return formatFields(observationHeader, observationFields, o.values()), nil
}

// ParseObservation parses the note text of an observation, strictly: the
// text must be exactly what Text would produce. Errors name the line.
func ParseObservation(text []byte) (*Observation, error) {
	const kind = "observation"
	vals, err := parseFields(kind, text, observationHeader, observationFields)
	if err != nil {
		return nil, err
	}
	o := &Observation{
		Ecosystem: vals[0].value,
		Package:   vals[1].value,
		Version:   vals[2].value,
		Tree:      vals[3].value,
		Manifest:  vals[4].value,
		Archive:   vals[5].value,
		Source:    vals[6].value,
	}
	t, err := time.Parse(ObservedTimeFormat, vals[7].value)
	if err != nil || t.Format(ObservedTimeFormat) != vals[7].value {
		return nil, vals[7].errorf(kind, "observed: want an RFC 3339 UTC time such as %s", ObservedTimeFormat)
	}
	o.Observed = t
	if i, err := o.check(); err != nil {
		return nil, vals[i].errorf(kind, "%w", err)
	}
	return o, nil
}

// SameContent reports whether o and p observed the same bytes and
// metadata for the same version, whenever each was made.
func (o *Observation) SameContent(p *Observation) bool {
	a, b := *o, *p
	a.Observed, b.Observed = time.Time{}, time.Time{}
	return a == b
}

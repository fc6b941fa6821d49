package policy

import (
	"fmt"
	"time"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// seen names an observation in a reason, formatted only when one is
// written.
type seen struct{ *tlog.Observation }

func (o seen) String() string {
	return fmt.Sprintf("observation at log index %d, made %s", o.Index, o.Observed.UTC().Format(release.ObservedTimeFormat))
}

// observedMetadata compares the metadata with the log's observation of the
// version, signed or not, and applies the release age. A version the log
// has not observed passes here (the statement or the unsigned policy
// decide it), unless a release age is required: then its age is unknown.
func (d *decision) observedMetadata(s Settings, obs map[string]*tlog.Observation, m Metadata) {
	o := obs[m.Version]
	if o != nil {
		switch {
		case m.ManifestErr != nil:
			// Reported against the statement, or below when unsigned.
		case m.Manifest != o.Manifest:
			d.fail("the dependencies in the metadata (manifest %s) differ from what the release log observed (manifest %s, %s): this registry serves other metadata than it served the log",
				m.Manifest, o.Manifest, seen{o})
		}
		if o.Archive != "" && m.Integrity != "" && integrityMismatch(m.Integrity, o.Archive) {
			d.fail("the metadata's dist.integrity %q differs from the archive digest the release log observed (%s, %s)", m.Integrity, o.Archive, seen{o})
		}
	}
	if s.MinReleaseAge <= 0 || m.Now.IsZero() {
		return
	}
	if o == nil {
		d.fail("the release log has not observed this version yet, so its release age is unknown; it becomes installable %s after the log observes it (min-release-age)", s.MinReleaseAge)
		return
	}
	if age := m.Now.Sub(o.Observed); age < s.MinReleaseAge {
		d.fail("released %s ago by the release log's clock (%s), younger than the min-release-age of %s; installable from %s",
			age.Truncate(time.Second), seen{o}, s.MinReleaseAge, o.Observed.Add(s.MinReleaseAge).UTC().Format(time.RFC3339))
	}
}

// observedArchive compares the archive with the log's observation of the
// version.
func (d *decision) observedArchive(obs map[string]*tlog.Observation, m Metadata, a ArchiveFacts) {
	o := obs[m.Version]
	if o == nil || a.TreeErr != nil {
		return // a tree that cannot be computed is reported already
	}
	if a.Tree != o.Tree {
		d.fail("the archive's tree hash %s differs from the tree %s the release log observed (%s): this registry serves other bytes than it served the log", a.Tree, o.Tree, seen{o})
	}
	if o.Archive != "" && a.SHA512 != "" && a.SHA512 != o.Archive {
		d.fail("the archive's digest %s differs from the digest %s the release log observed (%s)", a.SHA512, o.Archive, seen{o})
	}
}

// VersionUntil returns the first time after m.Now at which Version(e, m)
// may give another verdict with e and m unchanged but for Now, or the zero
// time when it gives the same one at every later time. Only the release
// age ages a verdict: a version younger than the min-release-age is
// blocked with a reason that states its age to the second, so its verdict
// changes at the next whole second of its age, and lastly when it comes of
// age. A caller that keeps a verdict (a front keeping the document it
// rendered) keeps it until then at most.
func (c *Config) VersionUntil(e *Evidence, m Metadata) time.Time {
	s := c.For(m.Package)
	if s.MinReleaseAge <= 0 || m.Now.IsZero() || e == nil || e.Err != nil {
		return time.Time{}
	}
	o := e.Observations[m.Version]
	if o == nil {
		return time.Time{}
	}
	age := m.Now.Sub(o.Observed)
	switch {
	case age >= s.MinReleaseAge:
		return time.Time{}
	case age < 0:
		// Observed in the future by this clock: its stated age rounds
		// towards zero, so it is not kept at all.
		return m.Now
	}
	next := o.Observed.Add(age.Truncate(time.Second) + time.Second)
	if adult := o.Observed.Add(s.MinReleaseAge); adult.Before(next) {
		next = adult
	}
	return next
}

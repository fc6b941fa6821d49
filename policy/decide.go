package policy

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// Evidence is what the release log proves about one package, in the log's
// own types: the caller has already checked the checkpoint, its witnesses,
// every inclusion proof, and evaluated the entries (tlog.Evaluate: every
// signature and the keyring state of the package's namespaces). The
// decision only compares.
type Evidence struct {
	// Err is set when the log could not be consulted or did not verify (a
	// SECURITY ERROR among them). Every version then fails closed: Block in
	// enforce mode, Warn in warn mode, with Err's text as the reason.
	Err error
	// Trust is the log's evaluation of the package (tlog.Lookup.Evaluate):
	// the namespaces that govern it, the history of their keys, the valid
	// statement of each version, equivocations and the statements that do
	// not count. Required when Err is nil: without it every version fails
	// closed. A namespace that has or ever had a key (in the log or pinned
	// in Config.VendorKeys) is keyed, even when its keys were all retired
	// or revoked: losing its keys must not turn a signed package into an
	// unsigned one. A package with no keyed namespace is unsigned and the
	// Unsigned policy applies.
	Trust *tlog.PackageTrust
	// Observations holds, by version, what the release log itself saw when
	// it fetched the version from the registry it observes
	// (tlog.Lookup.Observations: signed by the log key, proven in the
	// log): the shared first-seen truth, checked in addition to any
	// statement, and the clock of the release age.
	Observations map[string]*tlog.Observation
}

// Unsigned reports whether the evidence holds and shows the package
// unsigned (no namespace of it has or had a key): then the first-seen pin
// of a version takes part in the archive verdict.
func (e *Evidence) Unsigned() bool {
	return e != nil && e.Err == nil && e.Trust != nil && !e.Trust.Keyed()
}

// Metadata is what the registry's metadata says about one version.
type Metadata struct {
	Package string
	Version string
	// Manifest is the manifest digest computed from the metadata; when it
	// could not be computed it is empty and ManifestErr says why.
	Manifest    string
	ManifestErr error
	Source      string // source.reference, empty when none
	// DistReference is Composer's dist.reference, empty when none.
	DistReference string
	// NoDist is set when the metadata names no archive: a version with
	// keys is then blocked, as it could only be installed from a source
	// sigil cannot verify.
	NoDist    bool
	Integrity string // npm dist.integrity (SRI), empty when none
	// Shrinkwrap is npm's "_hasShrinkwrap": true, a claim that the
	// tarball holds npm-shrinkwrap.json, which npm then builds the
	// package's subtree from. It is served only when the archive holds the
	// file (ArchiveFacts.Shrinkwrap).
	Shrinkwrap bool
	// Registry is the check of the registry's own signature on the
	// version, where the front makes one (npm's dist.signatures).
	Registry RegistrySignature
	// Now is the time of the decision, for the release age. Zero skips
	// the release-age check (a caller that has no clock to give).
	Now time.Time
}

// ArchiveFacts is what sigil measured on the archive bytes.
type ArchiveFacts struct {
	// Tree is the archive's tree hash; when it could not be computed (the
	// archive is malformed or exceeds a limit) it is empty and TreeErr
	// says why.
	Tree    string
	TreeErr error
	// SHA512 is the digest of the bytes as "sha512-<base64>", computed for
	// npm tarballs only; empty otherwise.
	SHA512 string
	// Manifest is the manifest digest of the archive's own manifest file
	// (release.ArchiveManifestDigest), which must equal the metadata's,
	// signed or not; when it could not be computed it is empty and
	// ManifestErr says why.
	Manifest    string
	ManifestErr error
	// Shrinkwrap is whether an npm tarball holds npm-shrinkwrap.json at
	// its root (release.HasShrinkwrap).
	Shrinkwrap bool
	// Pinned is the first tree hash sigil saw for this version of an
	// unsigned package (trust on first use), or empty when none is pinned,
	// and PinnedManifest the archive manifest digest pinned with it (empty
	// for a pin made before manifests were pinned). The caller pins Tree
	// and Manifest first, so they are these on first sight.
	Pinned         string
	PinnedManifest string
}

// RegistrySignature is the evidence of a registry's own signature over a
// version (npm's dist.signatures against the registry's pinned keys): a
// separate claim from the vendor's (the registry published these bytes,
// not: the vendor signed them), judged in the same verdict.
type RegistrySignature struct {
	// Problems say why the signature did not verify; empty when it did or
	// was not checked. Each is a sentence that names the version.
	Problems []string
	// Required makes a problem fail the version (blocked in enforce mode);
	// otherwise a problem only warns.
	Required bool
}

// Version decides a version from its metadata alone, as the metadata is
// served. The archive is decided again with ArchiveVerdict when fetched.
func (c *Config) Version(e *Evidence, m Metadata) Verdict {
	s := c.For(m.Package)
	d := decision{pkg: m.Package, version: m.Version}
	d.metadata(s, e, m)
	d.registry(m.Registry)
	return d.verdict(s)
}

// Archive decides a version at archive time: everything Version checks,
// plus the archive against the statement (tree, npm bytes digest) or, for
// an unsigned package, against its first-seen tree.
func (c *Config) Archive(e *Evidence, m Metadata, a ArchiveFacts) Verdict {
	s := c.For(m.Package)
	d := decision{pkg: m.Package, version: m.Version}
	if ve := d.metadata(s, e, m); ve != nil {
		d.archive(ve, a)
	} else if d.unsigned {
		d.pin(a)
	}
	if e != nil && e.Err == nil {
		d.observedArchive(e.Observations, m, a)
	}
	d.registry(m.Registry)
	d.integrity(m, a)
	d.ownManifest(m, a)
	return d.verdict(s)
}

// registry adds the registry-signature problems: failures where the
// signature is required, warnings otherwise.
func (d *decision) registry(r RegistrySignature) {
	if len(r.Problems) == 0 {
		return
	}
	d.block = d.block || r.Required
	d.reasons = append(d.reasons, r.Problems...)
}

// ownManifest holds the metadata to the archive's own manifest file, for
// every package: the fields the client acts on must be the ones the
// archive's author wrote, whoever signed what. A malformed archive is
// reported once, by the tree check.
func (d *decision) ownManifest(m Metadata, a ArchiveFacts) {
	switch {
	case a.TreeErr != nil:
	case a.ManifestErr != nil:
		d.fail("the archive's own manifest cannot be read, so the metadata cannot be checked against it: %v", a.ManifestErr)
	case m.ManifestErr != nil:
		d.fail("the metadata's install fields cannot be checked against the archive's own manifest: %v", m.ManifestErr)
	case a.Manifest != m.Manifest:
		d.fail("the install fields in the metadata (manifest %s) differ from the archive's own manifest file (manifest %s): the registry's metadata was changed", m.Manifest, a.Manifest)
	case m.Shrinkwrap && !a.Shrinkwrap:
		d.fail("the metadata says the archive holds an npm-shrinkwrap.json (_hasShrinkwrap), and it holds none: the registry's metadata was changed")
	}
}

// decision accumulates the reasons of one verdict. It builds strings only
// for reasons: deciding a version that passes allocates nothing.
type decision struct {
	pkg      string
	version  string
	reasons  []string
	block    bool // a reason that blocks in enforce mode
	unsigned bool // the package has no keys
	notice   bool // the unsigned = warn policy's notice is among the reasons
	signed   bool // a valid statement covers the version
}

// id is package@version, the subject of every reason but the unsigned =
// warn notice (about the package alone).
func (d *decision) id() string { return d.pkg + "@" + d.version }

// where names a statement in a reason by its first entry, formatted only
// when one is written: the signers by NAME+HASH, what a signature line
// shows (the key itself is long and adds nothing a person can check by
// eye).
type where struct{ *tlog.LoggedStatement }

func (w where) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "statement at log index %d signed by ", w.Index)
	for i, k := range w.Signers {
		if i > 0 {
			b.WriteString(", ")
		}
		name, rest, _ := strings.Cut(k, "+")
		hash, _, _ := strings.Cut(rest, "+")
		b.WriteString(name + "+" + hash)
	}
	return b.String()
}

func (d *decision) fail(format string, args ...any) {
	d.block = true
	d.reasons = append(d.reasons, d.id()+": "+fmt.Sprintf(format, args...))
}

// metadata runs the checks that need only the metadata and returns the
// version's valid statement when there is one to compare the archive with.
func (d *decision) metadata(s Settings, e *Evidence, m Metadata) *tlog.VersionEvidence {
	if e == nil || e.Err == nil && e.Trust == nil {
		d.fail("no release log evidence was available")
		return nil
	}
	if e.Err != nil {
		d.fail("the release log could not be checked, so the version cannot be verified: %v", e.Err)
		return nil
	}
	t := e.Trust
	if eq := equivocation(t, m.Version); eq != nil {
		d.fail("the release log holds two different statements for this version, at indices %d and %d; the version is blocked until the vendor resolves it", eq.First.Index, eq.Second.Index)
		return nil
	}
	d.observedMetadata(s, e.Observations, m)
	if !t.Keyed() {
		d.unsigned = true
		d.unsignedPolicy(s, t)
		return nil
	}
	ve := t.Statements[m.Version]
	if ve == nil || len(ve.Entries) == 0 {
		d.fail("%s", noStatement(t, m.Version))
		return nil
	}
	// Several entries with one content are one release logged more than
	// once (re-signed by another key): the first is the evidence.
	st, at := ve.Statement, where{&ve.Entries[0]}
	switch {
	case m.ManifestErr != nil:
		d.fail("the dependencies in the metadata cannot be checked against the %s: %v", at, m.ManifestErr)
	case m.Manifest != st.Manifest:
		d.fail("the dependencies in the metadata (manifest %s) differ from the signed ones (manifest %s, %s)", m.Manifest, st.Manifest, at)
	}
	if st.Source != "" && m.Source != "" && st.Source != m.Source {
		d.fail("the metadata names source %s, the %s names %s", m.Source, at, st.Source)
	}
	if st.Source != "" && m.DistReference != "" && st.Source != m.DistReference {
		d.fail("the metadata's dist.reference %s differs from the source %s of the %s", m.DistReference, st.Source, at)
	}
	if m.NoDist {
		d.fail("the metadata names no archive (dist) for this signed version, and only a verified archive is installed")
	}
	if st.Archive != "" && m.Integrity != "" {
		if integrityMismatch(m.Integrity, st.Archive) {
			d.fail("the metadata's dist.integrity %q differs from the signed archive digest %s (%s)", m.Integrity, st.Archive, at)
		}
	}
	d.signed = !d.block
	return ve
}

// equivocation returns the first equivocation the log proves for version,
// or nil.
func equivocation(t *tlog.PackageTrust, version string) *tlog.Equivocation {
	for i := range t.Equivocations {
		if t.Equivocations[i].Version == version {
			return &t.Equivocations[i]
		}
	}
	return nil
}

// noStatement says why a version of a keyed package has no valid
// statement: which namespaces have keys (in the order that governs the
// package), and why each logged statement of the version does not count.
func noStatement(t *tlog.PackageTrust, version string) string {
	var keyed []string
	for _, ns := range t.Namespaces {
		if len(t.Keys[ns]) > 0 {
			keyed = append(keyed, ns)
		}
	}
	has := "has"
	if len(keyed) > 1 {
		has = "have"
	}
	msg := fmt.Sprintf("no valid release statement for this version is in the release log, and %s %s signing keys", joinNames(keyed, "and"), has)
	var why []string
	for _, r := range t.Refused {
		if r.Version != "" && r.Version == version {
			why = append(why, r.Reason)
		}
	}
	if len(why) > 0 {
		msg += " (" + strings.Join(why, "; ") + ")"
	}
	return msg
}

// unsignedPolicy applies the unsigned policy. Allow, the default, says
// nothing, and so builds no string: it is the hot path of most packages.
func (d *decision) unsignedPolicy(s Settings, t *tlog.PackageTrust) {
	switch s.Unsigned {
	case UnsignedWarn:
		// About the package, not the version: the same sentence for
		// every version (see Verdict.NoticeOnly).
		d.notice = true
		d.reasons = append(d.reasons, d.pkg+": "+unsignedMessage(t)+"; served under the unsigned = warn policy")
	case UnsignedDeny:
		d.fail("%s, and the policy denies unsigned packages (unsigned = deny)", unsignedMessage(t))
	}
}

func unsignedMessage(t *tlog.PackageTrust) string {
	if len(t.Namespaces) > 0 {
		return fmt.Sprintf("the package is unsigned: no key was ever registered for %s", joinNames(t.Namespaces, "or"))
	}
	return "the package is unsigned"
}

func (d *decision) archive(ve *tlog.VersionEvidence, a ArchiveFacts) {
	st, at := ve.Statement, where{&ve.Entries[0]}
	switch {
	case a.TreeErr != nil:
		d.fail("the archive cannot be checked against the %s: %v", at, a.TreeErr)
	case a.Tree != st.Tree:
		d.fail("the archive's tree hash %s differs from the signed tree %s (%s)", a.Tree, st.Tree, at)
	}
	if st.Archive != "" && a.SHA512 != st.Archive {
		got := a.SHA512
		if got == "" {
			got = "not computed"
		}
		d.fail("the archive's digest %s differs from the signed archive digest %s (%s)", got, st.Archive, at)
	}
	d.signed = !d.block
}

func (d *decision) pin(a ArchiveFacts) {
	switch {
	case a.TreeErr != nil:
		d.fail("the archive cannot be hashed: %v", a.TreeErr)
	case a.Pinned != "" && a.Pinned != a.Tree:
		d.fail("the archive's tree hash %s differs from %s, first seen for this unsigned version and pinned", a.Tree, a.Pinned)
	case a.PinnedManifest != "" && a.Manifest != "" && a.PinnedManifest != a.Manifest:
		d.fail("the archive's manifest %s differs from %s, first seen for this unsigned version and pinned", a.Manifest, a.PinnedManifest)
	}
}

// integrity checks the bytes against the metadata's own dist.integrity:
// the npm client would refuse a mismatch too, but only after sigil had
// cached and served the bytes.
func (d *decision) integrity(m Metadata, a ArchiveFacts) {
	if m.Integrity == "" || a.SHA512 == "" {
		return
	}
	if integrityMismatch(m.Integrity, a.SHA512) {
		d.fail("the archive's digest %s differs from the metadata's dist.integrity %q", a.SHA512, m.Integrity)
	}
}

func (d *decision) verdict(s Settings) Verdict {
	v := Verdict{Action: Allow, Reasons: d.reasons, Signed: d.signed && !d.block, Failed: d.block}
	switch {
	case d.block && s.Mode == ModeWarn:
		v.Action = Warn
	case d.block:
		v.Action = Block
	case len(d.reasons) > 0:
		v.Action = Warn
		v.NoticeOnly = d.notice && len(d.reasons) == 1
	}
	return v
}

// integrityMismatch reports whether the SRI string sri (npm's
// dist.integrity) names a sha512 digest other than want's. An SRI without
// a sha512 entry (old packages carry only sha1) says nothing about a sha512
// and is no mismatch; one that is malformed or names two different sha512
// digests is.
func integrityMismatch(sri, want string) bool {
	if !strings.Contains(sri, "sha512-") {
		return false
	}
	got, err := release.ParseIntegrity(sri)
	if err != nil {
		return true
	}
	w, err := release.ParseIntegrity(want)
	return err != nil || !bytes.Equal(got, w)
}

// joinNames lists names for a sentence: "a", "a or b", "a, b or c".
func joinNames(names []string, conj string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}

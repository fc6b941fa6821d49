// Package policy holds sigil's trust configuration and its decision about
// each version of a package: Allow, Warn or Block, with reasons a person can
// act on.
//
// The decision is a pure function of its inputs. It takes the evidence the
// release log proved about a package (Evidence: valid statements, which
// namespaces have keys, equivocations, or why the log could not be
// checked), what the registry's metadata says about a version (Metadata)
// and, at archive time, what sigil measured on the bytes (ArchiveFacts).
// It does no I/O, so every branch is a table test.
//
// What it guarantees:
//
//   - A package none of whose namespaces ever had a key follows the Unsigned
//     policy (allow, warn, deny); its archives must keep the tree hash and
//     manifest first seen for each version (the caller keys the pin as the
//     client compares versions, a dev version per commit).
//   - Signed or not, at archive time the metadata's manifest digest must
//     equal the digest of the archive's own manifest file (ArchiveFacts.Manifest).
//   - Otherwise a version is allowed only with a valid logged statement that
//     the metadata matches (manifest; source.reference and dist.reference each
//     when the statement names a source; a dist to install from; npm
//     dist.integrity against the signed archive digest) and, at archive
//     time, that the archive matches (tree hash; npm bytes digest).
//   - Two statements for one version (equivocation) block it, naming both
//     log indices.
//   - Where the log observed a version (Evidence.Observations), signed or
//     not, the metadata's manifest and npm dist.integrity, and at archive
//     time the tree hash and npm bytes digest, must equal the observation's,
//     in addition to the statement and the first-seen pin; a mismatch names
//     the observation's log index and time and what this registry served.
//   - With a minimum release age (Settings.MinReleaseAge), a version is
//     blocked until that long after the log observed it (Metadata.Now
//     minus Observation.Observed), the reason saying when it becomes
//     installable; a version without an observation has no age and is
//     blocked.
//   - A log that cannot be reached or does not verify fails closed: Block
//     in enforce mode.
//   - In warn mode every Block becomes Warn with the same reasons; nothing
//     else changes.
//
// Reasons are sentences that start with package@version and name the
// evidence: what was expected, what came, the statement's log index and
// signing key.
//
// The configuration (Config) comes from flags and a TOML policy file
// (LoadFile) whose per-package rules override the top-level settings; the
// first rule whose pattern matches wins. Flags beat the file (Overlay).
package policy

// Package policy holds sigil's trust configuration and its decision about
// each version of a package: Allow, Warn or Block, with reasons a person can
// act on.
//
// The decision is a pure function of its inputs. It takes the evidence the
// release log proved about a package in the log's own types, handed over
// as package tlog made them, with no copy or translation between
// (Evidence: the tlog.PackageTrust that tlog.Lookup.Evaluate returns, with
// the valid statements, the key history of every namespace, equivocations
// and the statements that do not count; the lookup's observations; or why
// the log could not be checked), what the registry's metadata says about a
// version (Metadata) and, at archive time, what sigil measured on the
// bytes (ArchiveFacts). It does no I/O, so every branch is a table test.
// Deciding a version that passes builds no string and allocates nothing:
// reasons, and the key names in them, are formatted only when written.
//
// What it guarantees:
//
//   - A package none of whose namespaces ever had a key follows the Unsigned
//     policy (allow, warn, deny); keys that were all retired or revoked
//     still make a namespace keyed, so losing them never makes a signed
//     package unsigned; its archives must keep the tree hash and
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
// signing keys (NAME+HASH, as a signature line shows them), and for a
// version without a valid statement the keyed namespaces and why each
// logged statement of it does not count. The one exception is the
// unsigned = warn notice, which is about the package: it starts with the
// package alone, is the same sentence for every version, and a verdict
// whose one reason it is says so (Verdict.NoticeOnly), so that clients
// are told it once per package rather than per version and archive.
//
// The configuration (Config) comes from flags and a TOML policy file
// (LoadFile) whose per-package rules override the top-level settings; the
// first rule whose pattern matches wins. Flags beat the file (Overlay).
package policy

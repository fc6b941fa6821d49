// Package proxy is the ecosystem-independent core of sigil's HTTP front:
// the Checker that decides versions and serves verified archives, the
// Upstream that fetches metadata through the cache, and the one mapping of
// errors to HTTP status. Ecosystem fronts (proxy/composer, proxy/npm) parse
// their registry's metadata into VersionFacts, ask the Checker, and rewrite
// what they serve.
//
// # What the Verifier guarantees
//
//   - Every verdict comes from policy, over evidence that package tlog
//     proved (checkpoint, witnesses, inclusion) and evaluated (keys,
//     revocations, equivocation), handed to policy in tlog's own types
//     (policy.Evidence: tlog.PackageTrust and the lookup's observations),
//     never copied into types of the proxy's. A log that cannot be reached
//     or does not verify fails closed: Block in enforce mode, Warn in warn
//     mode.
//   - One log lookup serves a burst of requests for a package: concurrent
//     lookups are shared, and the evaluated evidence is kept for
//     VerifierConfig.EvidenceTTL, or until any lookup proves a newer
//     checkpoint (which may carry a revocation).
//   - An archive is fetched only from the URL the metadata gave
//     (VersionFacts.ArchiveURL), once for all concurrent requests, streamed
//     into a private staging directory while its sha256 (and for npm its
//     sha512) is computed, within a size limit, so memory stays bounded
//     whatever its size. Its tree hash, and the manifest digest of its own
//     composer.json or package.json, are computed from the staged file.
//   - Only bytes whose verdict did not fail are stored, and only then is a
//     reference made from (ecosystem, package, version, URL) to them (a
//     Composer dev version: its commit too). The first verified bytes are
//     served for ever after: a reference never changes, and a re-zipped
//     upstream archive changes nothing. When the URL changes (a new
//     upstream), bytes stored for the version under another URL are
//     decided again and, only if that verdict passes every check, served
//     and referenced under the new URL without a download (moved.go).
//   - Every serve is decided by policy from the current evidence, from the
//     cache too (a revocation logged after an archive was cached blocks
//     it), and no more often than that takes: a cached archive once, on
//     its bytes; a download twice, a version verdict on the metadata alone
//     before fetching (what it blocks is never fetched) and the archive
//     verdict on the bytes. Just-stored bytes are served with the verdict
//     made on them. Only a race decides again: another request pinned
//     other bytes of an unsigned version meanwhile, or the reference
//     already named an earlier verification's bytes, which are then the
//     ones decided and served. The fronts render verdicts and re-decide
//     nothing; a version entry too malformed to describe as VersionFacts
//     is dropped as bad input before any verdict.
//   - Signed or not, the metadata's install fields must equal the
//     archive's own manifest (policy.ArchiveFacts.Manifest).
//   - With a log that observes (an ObservingLog), the log is asked to
//     observe a version before its archive is decided, and, when a release
//     age applies, every listed version it has not observed; the log's
//     observation is evidence in addition to statements and pins (see
//     policy). A log that cannot observe now leaves the version to the
//     other evidence and is logged; a SECURITY ERROR fails closed.
//   - In warn mode, bytes whose verdict failed are served from the staging
//     file and never stored, so a later enforce run cannot inherit them.
//   - For an unsigned package, the tree hash and manifest of the first bytes
//     that pass every other check are pinned per version (trust on first
//     use), keyed as the client compares versions: Composer's normalized
//     version, a dev version per commit (see pins.go); other bytes for that
//     version are blocked, naming both hashes.
//
// # Where it fetches
//
// Every fetch goes through the *http.Client it is given; sigil serve gives
// the client of its outbound fetch policy (internal/egress): upstreams,
// the log and archive hosts only, no internal address unless named,
// checked at dial time and on every redirect, with an idle timeout and a
// deadline on every body. A refusal (*egress.Refused) is final: it is
// answered 410 with the host and the rule, and a stale copy of a document
// never hides it. UpstreamClient, the default of a zero config, has no
// such policy: it is for embedders and tests that choose their upstreams.
//
// # Errors and status
//
// StatusOf maps errors to HTTP status in one place: ErrNotFound 404,
// *BlockedError and *egress.Refused 410, *UpstreamError 502, never 401 or 403 (Composer would
// ask for credentials instead of showing the reason).
package proxy

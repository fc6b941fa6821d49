// Package npm is sigil's front for npm: a registry that mirrors an upstream
// registry and serves only what the Checker lets through. A project points
// npm at it (registry=http://127.0.0.1:8780/npm/ in .npmrc), or, in forward
// mode, keeps the upstream's URL and reaches sigil as its HTTPS proxy.
//
// Routes, under the mount prefix (default /npm):
//
//	/{name}, /@scope%2fname, /@scope/name      packuments, decided and filtered
//	/{name}/-/{name}-{version}.tgz             verified tarballs (scoped: /@scope/name/-/name-…)
//	/-/npm/v1/keys                             the upstream's signing keys
//	/-/npm/v1/attestations/{name}@{version}    the upstream's attestations
//	/-/npm/v1/security/advisories/bulk,        the upstream's audit endpoints (POST)
//	/-/npm/v1/security/audits/quick, …/audits
//	/-/ping                                    answered by sigil
//
// Anything else is a fast 404, as is an invalid package name, before the
// upstream is asked anything; a write (publish, unpublish, dist-tag, login)
// is a 405: sigil is read-only. In forward mode the Handler also
// implements proxy/forward's Router (Routes) and Archives
// (ArchiveOrigin, ServeArchiveURL).
//
// What it guarantees:
//
//   - Every version in a served packument was decided by the Checker, all
//     versions of a packument in one call, from facts taken from the
//     packument as npm reads it (JSON.parse: the last of duplicate names
//     wins; names are written back decoded, so npm reads the names sigil
//     decided about). The facts of a version: the package name as
//     published, its version string, the manifest digest of its
//     dependencies (release.MetadataManifestDigest), its dist.integrity
//     and its dist.tarball. A version whose entry names another package or
//     version, or has no http(s) tarball, is not served.
//   - Each version's registry signature (dist.signatures, see regsig.go)
//     is checked too, unless RegistrySignatures is off. It is evidence of
//     a separate claim (the registry published these bytes, not: the
//     vendor signed them), passed to the Checker with the version's facts
//     (VersionFacts.Registry), whose policy makes the one verdict: a
//     failure warns; under SignaturesRequire it blocks in enforce mode.
//     The front never re-decides a verdict.
//   - Covered or dropped: a served packument is built from allowlists.
//     Top level: name, versions, dist-tags, time and what npm shows a
//     person (servedTop); never "stagedVersions", "_attachments" or the
//     upstream's "policyRestrictions". Each version: identity (name,
//     version), the fields the manifest digest covers
//     (release.ManifestFields), sigil's dist, and informational fields
//     (front.ServedField); never "scripts" (the version says
//     hasInstallScript instead, and npm runs the scripts of the verified
//     tarball), "gypfile", "man", "directories" or a field npm may read
//     one day. dist: tarball, integrity, shasum, signatures, attestations,
//     fileCount, unpackedSize (servedDist), as the upstream wrote them,
//     byte for byte, except dist.tarball, rewritten to sigil's URL (not in
//     forward mode). Blocked versions leave "versions" and "time".
//   - A dist-tag that names a blocked version moves to the served version
//     of highest precedence below it (a prerelease only if the tag named
//     one), or goes away (see moveTag for why below, not above).
//   - npm is told why. Blocked versions are listed in policyRestrictions,
//     so that asking for one fails with npm's E403 "Could not download
//     name@spec due to policy violations:" and the reasons
//     (npm-pick-manifest). A packument with blocked or warned versions
//     carries an npm-notice header, which npm prints as "npm notice sigil:
//     …" — only when it did not store the response in its HTTP cache, so
//     such a packument is served with Cache-Control: no-store (npm then
//     fetches it again on every install, and `npm install --offline`
//     cannot use it). The reasons are also in the X-Sigil-Verdict header
//     and in the log. A refused tarball is 410 with {"error": reason},
//     which npm prints as "npm error 410 Gone - GET <url> - <reason>". No
//     answer is ever 401 or 403.
//   - In warn mode every version and tarball is served; the reasons go to
//     the same places (npm-notice, X-Sigil-Verdict, the log). A tarball
//     served with a warning carries its own npm-notice (and
//     Cache-Control: no-store, for npm to print it), so a tampered
//     tarball is reported in npm's output when it is installed; one whose
//     only reason is the unsigned = warn notice does not (the notice is
//     about the package, and the packument's npm-notice said it once:
//     policy.Verdict.NoticeOnly). npm shows nothing else from a
//     packument, short of marking versions deprecated, which would change
//     what it picks.
//   - Tarballs: a request names a package and version, never a URL. The
//     only URL fetched for a version is its dist.tarball in the upstream's
//     packument (remembered for a minute after the packument was parsed,
//     fetched again otherwise), through Checker.Archive, which verifies
//     the bytes (tree hash, and against dist.integrity) before they are
//     served (front.ServeArchive). In forward mode a tarball URL of
//     another shape or host is served only if a packument sigil served
//     named it (ServeArchiveURL, see forward.go), and again only as that
//     version's dist.tarball in the current packument.
//   - Packuments carry sigil's own validators: an ETag of the served bytes
//     and a Last-Modified from the ServedStore that moves when the bytes
//     do, including when only a verdict changed; If-None-Match and
//     If-Modified-Since get a 304. Each form (full, abbreviated) has its
//     own state, and Vary: Accept.
//   - Verdicts are never cached here: every packument and tarball request
//     asks the Checker, and checks registry signatures against the keys
//     of the moment. What is reused are pure functions of bytes: a parsed
//     packument (its manifests digested) is kept by the SHA-256 of the
//     document and its name (parsed.go; a bounded LRU, front.ParsedBytes) and
//     never changed, and registry-signature verifications (of key,
//     message and signature) are remembered.
//
// # Full and abbreviated packuments
//
// npm asks for the abbreviated ("corgi") form with Accept:
// application/vnd.npm.install-v1+json for lockfile-driven installs, and
// for the full form (application/json) when it builds a tree (npm 11,
// @npmcli/arborist build-ideal-tree.js fetchManifest) and to verify
// signatures. sigil always fetches the full form upstream and answers
// both from it: the registry's signature checks need each version's
// publish time, which only the full form has ("time"; pacote fetches the
// full form to verify for the same reason), proxy.Upstream asks for a URL
// and cannot send an Accept header, and one upstream copy serves both
// forms and the tarball requests. The abbreviated form is cut from it as
// the registry cuts it: identity, dist, the manifest's fields and three
// informational ones (abbreviatedInfo); both forms carry
// hasInstallScript, derived from "scripts" where the version does not
// carry it.
//
// # Integrity
//
// VersionFacts.Integrity is dist.integrity as published. A version from
// before npm recorded one has only dist.shasum (SHA-1); it is not turned
// into an integrity: statements name SHA-512 digests, and npm itself
// checks the SHA-1 of the bytes sigil serves.
package npm

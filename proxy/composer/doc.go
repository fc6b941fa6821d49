// Package composer is sigil's front for Composer: a Composer repository
// (protocol v2) that mirrors an upstream repository and serves only what
// the Checker lets through. A project points its composer.json at it
// ({"type": "composer", "url": "http://127.0.0.1:8780/composer"}) with the
// default repository disabled.
//
// Routes, under the mount prefix (default /composer):
//
//	/packages.json                        the upstream's root, rewritten
//	/p2/{vendor}/{name}.json, ~dev.json   metadata, decided and filtered
//	/dists/{vendor}/{name}/{version}/…    verified archives
//	/providers/{vendor}/{name}.json       the upstream's providers-api
//	/api/security-advisories/             the upstream's advisories API
//	/filter/summary.json, /api/filter/    the upstream's filter lists (summary, API)
//	/api/search.json, /api/list.json      the upstream's search and package list
//
// Anything else is a fast 404, as is a malformed package name, before the
// upstream is asked anything.
//
// What it guarantees:
//
//   - Every version in served metadata was decided by the Checker, all
//     versions of a document in one call, from facts taken from the
//     metadata exactly as Composer will read it (minified lists expanded
//     as MetadataMinifier::expand does; PHP's [] read as an empty object).
//     Blocked versions are not served; entries Composer could not load
//     or that name another package are not served either.
//   - Every served archive URL points at sigil (except in Forward mode,
//     where the client's request for the upstream URL reaches sigil
//     anyway), and every archive sigil serves comes from Checker.Archive,
//     which verifies it. The upstream URL of an archive is only ever
//     learned from the upstream's metadata for that package and version;
//     a request names what to look up, never what to fetch.
//   - In Forward mode (a forward proxy in front, package proxy/forward)
//     served archive URLs stay the upstream's, and the Handler serves an
//     archive by URL (ServeArchiveURL) only when metadata it served named
//     that URL; the version's facts are then read from the upstream's
//     metadata again, as for /dists/, which is not a route in this mode
//     (see forward.go). Every other URL is left to the proxy, which
//     refuses it.
//   - Covered or dropped: a served version holds its identity (name,
//     version), the fields the manifest digest covers
//     (release.ManifestFields), sigil's dist, and informational fields
//     (front.ServedField); every other member is dropped, among them
//     "version_normalized", "transport-options", "notification-url" and
//     any field Composer may read one day (see notServed). dist "shasum"
//     and all "mirrors" are removed (see distJSON).
//   - No "source" is served unless policy keeps it for the package (a
//     rule's source = "keep"), in either mode: Composer falls back to the
//     source when a dist download fails, and a lock file records it, so a
//     served source is a way around every archive check.
//   - Composer's own protections pass: p2 "security-advisories" and
//     "filter" (filter-list entries), and packages.json's
//     "security-advisories" and "filter" objects, whose API URLs point at
//     sigil routes proxied to the upstream's (only ever the URLs the
//     upstream's packages.json names). The two APIs (advisories, filter
//     lists) are passed through uncached, one bounded upstream request
//     per client request.
//   - packages.json is built from an allowlist and every URL in it is a
//     route of sigil's: no key lets Composer load versions, archives,
//     searches or lists around sigil (the v1 provider keys, inline
//     "packages", "mirrors", the upstream's "search" and "list").
//   - Composer is told why: blocked and warned versions are listed in a
//     "warnings" entry of the document ({"message", "versions": "*"},
//     printed by Composer 2.2 and later on every fresh download), in the
//     X-Sigil-Verdict response header and in the log. A refused archive
//     is 410 with {"warning": reason}, which Composer prints. An archive
//     served with a warning is answered, on a client's first GET, 425
//     with {"warning": reason}, which Composer prints before it retries
//     and gets the archive (see warnFirst). The unsigned = warn notice,
//     about a package rather than a version, is one warning line in the
//     package's p2 file, and neither repeated per version, nor in the
//     ~dev file, nor with the archives. No answer is ever 401 or 403, on
//     which Composer would ask for credentials.
//   - Served documents carry sigil's own validators: an ETag of the served
//     bytes, and a Last-Modified from the ServedStore that moves when the
//     bytes do, including when only a verdict changed. If-None-Match and
//     If-Modified-Since get a 304.
//   - An upstream document that is not JSON (or not UTF-8, which PHP
//     refuses) or whose structure Composer could not load is answered
//     with 502 and a message naming the problem; nothing of it is served.
//     Other failures get the status proxy.StatusOf gives them, with a JSON
//     "warning" that Composer prints; unknown documents get a plain 404,
//     which Composer takes quietly for "no such package".
//   - Verdicts are never cached here: every metadata and archive request
//     asks the Checker. What is reused are facts of the upstream's bytes:
//     a parsed document (expanded, its manifests digested) is kept by the
//     SHA-256 of the document and its package, so the same bytes are not
//     parsed twice (parsed.go; a bounded LRU, front.ParsedBytes), and the
//     archive facts of recently parsed documents serve the archive
//     requests that follow them, for a minute. A kept document is never
//     changed: each request writes its own answer from it.
//
// Served metadata is re-minified in the composer/2.0 format (with
// "minified" set) when that represents it exactly, which is whenever no
// field after the first version holds the literal string "__unset";
// otherwise it is served expanded. Object keys are sorted, so the served
// bytes, and the ETag, are a function of the content.
package composer

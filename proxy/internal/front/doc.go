// Package front is what sigil's ecosystem fronts (proxy/composer,
// proxy/npm) share: the parts of serving a registry protocol out of the
// Checker's verdicts that do not depend on the registry. Each front keeps
// its protocol (routes, the metadata model, how a client reads an error)
// and uses this for the rest:
//
//   - Core asks the Checker about all versions of a document in one call
//     and holds it to its contract, serves built documents with sigil's
//     own validators, and answers failures through the one mapping of
//     errors to statuses (proxy.StatusOf).
//   - ServeArchive answers an archive the Checker returned, with its
//     sha256 as ETag; a plain GET is written straight from the cache
//     without a buffer of its own.
//   - ServedStore and MemServed keep the Last-Modified state of served
//     documents.
//   - Learned is forward mode's memory of archive URLs named by served
//     metadata; CanonicalURL and CanonicalOrigin are the forms it and the
//     proxy match URLs in.
//   - Parsed keeps parsed upstream documents by the SHA-256 of their bytes,
//     so that a document fetched again unchanged is not parsed again;
//     Recent keeps the facts of recently parsed documents for the archive
//     requests that follow them; Manifests memoizes manifest digests
//     within one document.
//   - Prefix, PublicURL, Path and Base check a front's mount and make the
//     base of the absolute URLs it writes.
//   - ServedField and IsManifestField are the allowlist of version members
//     both fronts serve as the registry wrote them: identity, the fields
//     the manifest digest covers (release.ManifestFields), informational
//     fields. Anything else is dropped.
//   - Core.PassPost passes a request with a body (audits, filter lists) to
//     a URL the upstream's documents or the configuration named.
//   - Rendered keeps the documents served, so that a warm request is a
//     lookup and a write (Core.Kept, Core.ServeRendered).
//
// What it guarantees:
//
//   - No verdict outlives the evidence it was made from: Decide asks the
//     Checker on every call, and a document kept rendered is served again
//     only while the Checker says the verdicts it was rendered from are
//     current (proxy.StampedChecker: the package's evidence is the same,
//     and no verdict aged), asking on every request. What Parsed, Recent
//     and Learned keep are facts read from metadata. A parsed document
//     is found only by the digest of the very bytes (and the package) it
//     was parsed from, and the fronts share it read-only. A learned URL
//     only says where to look: the front must find it in the upstream's
//     current metadata for that version before it serves anything.
//   - A Checker that returns the wrong number of verdicts gets every
//     version of the document blocked: the document fails closed.
//   - Failures are never answered with 401 or 403 (clients would ask for
//     credentials), nor at all once the client went away; the
//     ecosystem's message says what failed or why it was refused.
//   - A served document's ETag is a digest of its bytes and its
//     Last-Modified moves whenever they change, a changed verdict
//     included, so no client revalidates into stale verdicts.
//   - Everything bounded is bounded by a constant or a config field with
//     a reason beside it: parsed documents (ParsedEntries, ParsedBytes),
//     learned URLs (an LRU), learned hosts (LearnedConfig.MaxOrigins),
//     recent documents (Recent.Size), rendered documents (RenderedEntries,
//     RenderedBytes).
package front

// Package forward is sigil's forward-proxy (HTTPS_PROXY) mode: the package
// manager keeps its upstream URLs, including the archive URLs its lock file
// pins, and reaches them through sigil, which reads the traffic of the hosts
// it knows with certificates from its own CA (package certs) and runs it
// through the same ecosystem fronts, and so the same verification, as the
// mirror.
//
// A Proxy is an http.Handler for sigil's listener. It accepts CONNECT and
// plain (absolute-URL) proxy requests, with github.com/elazarl/goproxy
// doing the CONNECT handshakes and tunnels; requests that are not proxy
// requests, and proxy requests addressed to sigil itself, go to
// Config.NonProxy (the mirror routes).
//
// What it guarantees:
//
//   - Never an open proxy. A target is intercepted only if its origin
//     (scheme, host and port, all three) is a configured upstream's, or
//     one at which metadata a front served named an archive
//     (Archives.ArchiveOrigin); it is tunnelled untouched only if its
//     host and port are in Config.Allow. Every other target is refused
//     with 403 and a one-line reason before any connection is made, and
//     the refusal is logged. The decision is made from the names in the
//     request, never from DNS, and checked again where the dial happens.
//   - An intercepted host is never tunnelled: interception wins over the
//     allow list, so allowing a registry host cannot bypass verification.
//     Nor can allowing an archive host (Config.Archives, such as a code
//     host that serves git too): it is intercepted whether or not
//     metadata named it lately, so a lock file's archive on it is refused
//     or verified, never tunnelled. An allowed host that only metadata
//     names for archives is intercepted from the first document that
//     names it on, for good (the fronts keep it, given Tunnelled), and
//     the log says, once, to name it as an archive host: before any
//     metadata named it, sigil cannot know it serves archives.
//   - Only hosts the CA's name constraints permit are intercepted
//     (certs.CA.Permits); another is refused, naming 'sigil ca init
//     --host', rather than answered with a certificate every client would
//     reject.
//   - Inside an intercepted connection, every request is routed by the
//     origin the client connected to (the CONNECT target), not by its Host
//     header; a request whose Host names another origin gets 421. Requests
//     for an upstream's origin go to its front (composer.Handler,
//     npm.Handler in Forward mode); an archive URL is served only by a
//     front that learned that exact URL from metadata it served
//     (Archives.ServeArchiveURL), for GET and HEAD. Any other URL is
//     refused with 404 and a JSON message that says sigil has not seen
//     metadata naming it, with a hint, in warn mode as in enforce: warn
//     mode relaxes verdicts, never where sigil goes.
//   - A host that is not allowed is intercepted as an archive host only
//     while metadata that named it is recent (see the fronts' Learned):
//     a host that metadata named once is no permanent grant.
//   - sigil fetches on its own account, with the fronts' own clients (the
//     outbound fetch policy of internal/egress, trusting --upstream-ca),
//     which verify the upstream's certificate; a failure is a 502 that
//     names it. A client's credentials (Authorization, Cookie,
//     Proxy-Authorization) are never passed on, least of all to an
//     archive host that metadata named. The client verifies only sigil's
//     leaf.
//
// Limitation: a URL is known only once metadata naming it passed through
// sigil. An install from a lock file (composer install) through a sigil
// whose cache never served that metadata is refused (its archive host at
// CONNECT, if that is not the upstream's) until the metadata passes
// through it: 'composer update --lock' does that and keeps the locked
// versions. Fronts that keep what they learned in sigil's cache
// (composer.Config.Learned) remember it across restarts.
package forward

// Package egress is sigil's one outbound fetch policy: every request sigil
// makes on its own account (upstream metadata, archives, the release log's
// observations) goes through a client from a Policy, so that no document a
// registry serves, and no client, can turn sigil into a door into the
// network it runs in.
//
// A Policy knows three kinds of host:
//
//   - Named hosts: the configured upstreams and the archive hosts the
//     operator named (--archive-host). They are fetched from whatever
//     address they resolve to, private or loopback included: the operator
//     chose them.
//   - Conventional hosts: the archive hosts an upstream's conventions imply
//     (the defaults of --archive-host). They are fetched only from public
//     addresses.
//   - Self: sigil's own listen addresses and public URL. Never fetched,
//     even when named: a fetch from itself waits on itself.
//
// What it guarantees, for a client from Policy.Client:
//
//   - Only http and https URLs whose host and port are named or
//     conventional are fetched. A host written as "HOST" stands for its
//     ports 443 and 80; "HOST:PORT" for that port only.
//   - An address that is loopback, private, link-local, shared (CGNAT,
//     100.64.0.0/10), multicast, unspecified or otherwise reserved, also
//     when written inside IPv6 (IPv4-mapped, IPv4-compatible, NAT64), is
//     connected to only if the host the URL names is a named host. The
//     check runs twice: on the URL's host by name, before anything is
//     resolved, and on every address after DNS resolution, at dial time,
//     in the dialer's Control hook, on the very address the socket
//     connects to. A name that resolves to a private address (DNS
//     rebinding) is therefore refused like the address itself.
//   - An IPv4 address in a form other than dotted decimal (2130706433,
//     0177.0.0.1, 0x7f.1, 127.1) is refused: resolvers disagree on what it
//     means.
//   - Every redirect hop is checked the same way (CheckRedirect, and the
//     transport checks every request it is given), at most 10 hops.
//   - A refusal is a *Refused error that names the host and the rule. It
//     is decided before any connection is made, so it is the same whether
//     anything listens at that address or not, and it never carries
//     anything the refused address could have answered.
//   - Every response body has an idle timeout (no byte for
//     Config.IdleTimeout fails the read with ErrStalled) and a total
//     deadline (Config.Deadline, from the request to the body's last byte,
//     ErrDeadline).
//   - HTTP_PROXY and HTTPS_PROXY are ignored: a CI runner that points its
//     package manager at sigil through them would otherwise make sigil
//     send its own requests to itself.
package egress

// Package certs is the certificate authority of sigil's forward (MITM) mode.
//
// In forward mode a package manager keeps its upstream URLs and reaches them
// through sigil as HTTPS_PROXY. To read and verify what the registry sends,
// sigil terminates TLS for the hosts it intercepts with certificates it
// mints itself, and the client trusts sigil's CA for that (Composer through
// COMPOSER_CAFILE, npm through NODE_EXTRA_CA_CERTS).
//
// A CA that a package manager trusts is a key to its supply chain, so this
// one is made as narrow as X.509 allows, and each limit holds even if the
// key is stolen, because it is in the signed CA certificate that every
// client checks:
//
//   - name constraints (critical) permit only the host names sigil
//     intercepts (and their subdomains) and no IP address unless one was
//     named: the key cannot mint a certificate for any other site;
//   - a path length of zero: it cannot make an intermediate CA that would
//     escape those limits in a client that ignored them below the root;
//   - extended key usage serverAuth only: it cannot mint client,
//     code-signing or e-mail certificates;
//   - the key lives only in DIR/ca.key (PKCS#8 PEM, mode 0600), written
//     once and never overwritten, and is never printed.
//
// Leaf certificates are minted on demand, live a day, are kept only in
// memory in a bounded LRU, and one host is minted once however many
// connections ask for it at the same moment. Leaf refuses any host the CA's
// name constraints do not permit, so sigil fails with a clear error instead
// of serving a certificate every client would reject.
//
// Every lifetime, size and limit is a named constant with the reason for its
// value beside it (ca.go, leaf.go).
package certs

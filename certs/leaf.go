package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"time"
)

const (
	// leafLifetime is one day. A leaf and its key exist only in the
	// proxy's memory, minting one costs well under a millisecond, and a
	// private CA has no revocation that clients check: expiry is the only
	// thing that ends a leaked leaf key's use. A day keeps that window
	// short while a leaf still serves every connection to its host for
	// hours.
	leafLifetime = 24 * time.Hour

	// leafRenewBefore: a cached leaf with less than this left is minted
	// anew. Half the lifetime, so that a served leaf always has hours to
	// spare for a client whose clock runs ahead of the proxy's.
	leafRenewBefore = leafLifetime / 2

	// leafCacheSize bounds the leaves kept in memory. Forward mode
	// intercepts a handful of registry and archive hosts, so 1024 is never
	// reached in normal use; the bound only stops a client that asks for
	// endless names (under a permitted domain) from growing memory without
	// limit. An evicted leaf is simply minted again.
	leafCacheSize = 1024
)

// mint is one leaf being made; callers for the same host wait on done.
type mint struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// Leaf returns a certificate for host (a DNS name or an IP address; a
// :port, as in a CONNECT target, is ignored), minted on first use and
// cached. Concurrent calls for one host mint it once. A host outside the
// CA's name constraints is refused with an error wrapping ErrNotPermitted:
// every client would reject such a certificate anyway.
func (ca *CA) Leaf(host string) (*tls.Certificate, error) {
	key, err := ca.permitted(host)
	if err != nil {
		return nil, err
	}
	// Check, lock, re-check, mint once.
	if c, ok := ca.leaves.Get(key); ok && ca.fresh(c) {
		return c, nil
	}
	ca.mu.Lock()
	if c, ok := ca.leaves.Get(key); ok && ca.fresh(c) {
		ca.mu.Unlock()
		return c, nil
	}
	if m, ok := ca.inflight[key]; ok {
		ca.mu.Unlock()
		<-m.done
		return m.cert, m.err
	}
	m := &mint{done: make(chan struct{})}
	ca.inflight[key] = m
	ca.mu.Unlock()

	m.cert, m.err = ca.mintLeaf(key)
	if m.err == nil {
		ca.leaves.Add(key, m.cert)
	}
	ca.mu.Lock()
	delete(ca.inflight, key)
	ca.mu.Unlock()
	close(m.done)
	return m.cert, m.err
}

// GetCertificate is Leaf for the server name the client sent (SNI), for
// use as tls.Config.GetCertificate.
func (ca *CA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		// Clients send no SNI when they connect to an IP address; the
		// proxy must then call Leaf with the host of the CONNECT request.
		return nil, errors.New("client sent no server name (SNI): cannot choose a certificate")
	}
	return ca.Leaf(hello.ServerName)
}

// fresh reports whether a cached leaf may still be served.
func (ca *CA) fresh(c *tls.Certificate) bool {
	left := c.Leaf.NotAfter.Sub(ca.now())
	// In the CA's last hours a new leaf would not live longer (it is cut
	// at the CA's expiry): serve the one there is until it expires.
	return left >= leafRenewBefore || (c.Leaf.NotAfter.Equal(ca.cert.NotAfter) && left > 0)
}

// mintLeaf makes a leaf for host without checking the name constraints:
// Leaf checks them first (and tests use this to prove clients enforce them).
func (ca *CA) mintLeaf(host string) (*tls.Certificate, error) {
	name, ip, err := parseHost(host)
	if err != nil {
		return nil, err
	}
	now := ca.now()
	if now.After(ca.cert.NotAfter) {
		return nil, fmt.Errorf("CA expired on %s: make a new one with 'sigil ca init'", ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	// P-256 for the same reason as the CA: every client verifies it. A
	// key per leaf: nothing links two hosts' certificates, and a key that
	// leaks serves one host for a day.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating leaf key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		// A leaf cannot outlive its CA: clients check every certificate
		// of the chain.
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// No common name: clients match the SAN only (Go ignores the CN,
		// OpenSSL falls back to it only without a SAN).
		Subject:   pkix.Name{Organization: []string{"sigil forward proxy"}},
		NotBefore: now.Add(-clockSkew),
		NotAfter:  notAfter,
		// ECDSA keys sign the handshake; they never encipher a key.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	if ip.IsValid() {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("minting certificate for %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("minting certificate for %s: %w", host, err)
	}
	ca.minted.Add(1)
	return &tls.Certificate{
		// The leaf alone: clients hold the CA already, and sending it
		// would only lengthen every handshake.
		Certificate: [][]byte{der},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

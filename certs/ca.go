package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sigilproxy/sigil/internal/atomicfile"
)

// File names inside the CA directory.
const (
	KeyFile  = "ca.key"
	CertFile = "ca.pem"
)

const (
	// caLifetime is five years. The CA is trusted only by the clients
	// pointed at it (COMPOSER_CAFILE, NODE_EXTRA_CA_CERTS), so replacing
	// it means touching every CI configuration and workstation: a lifetime
	// of a year or less would make that a routine chore that breaks builds.
	// Ten years (mkcert's choice) outlives the machines and the team that
	// made it, and a forgotten CA directory stays useful to whoever copies
	// it. Five years sits between; what a stolen key can do meanwhile is
	// bounded by the name constraints, not by the lifetime.
	caLifetime = 5 * 365 * 24 * time.Hour

	// clockSkew backdates NotBefore of every certificate, so that a client
	// whose clock runs behind the proxy's does not reject a certificate
	// that is "not yet valid" (the same hour public CAs allow).
	clockSkew = time.Hour

	// serialBits is the size of the random serial number. RFC 5280 allows
	// up to 20 octets; 128 random bits make two serials of one CA collide
	// with negligible probability, and unpredictable serials are what
	// defeated the chosen-prefix MD5 collisions against public CAs.
	serialBits = 128

	// keyFileMode is the mode of ca.key: readable by its owner only.
	keyFileMode fs.FileMode = 0o600
	// certFileMode is the mode of ca.pem: public, anyone may read it.
	certFileMode fs.FileMode = 0o644
	// dirMode is the mode of a CA directory sigil creates.
	dirMode fs.FileMode = 0o700
)

// CA is sigil's certificate authority: its certificate, its key and the
// cache of leaf certificates it minted. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer

	now func() time.Time

	leaves   *lru.Cache[string, *tls.Certificate]
	mu       sync.Mutex       // guards inflight
	inflight map[string]*mint // hosts being minted now
	minted   atomic.Uint64    // leaves minted so far (tests, metrics)
}

// Options configure InitCA.
type Options struct {
	// Hosts are the DNS names (each with its subdomains) and IP addresses
	// the CA may mint for: its X.509 name constraints. At least one DNS
	// name; a public suffix (com, github.io) is refused. Required: a CA
	// that may mint for anything is exactly what sigil must never make.
	Hosts []string
}

// Error is a problem with a CA's files that the person running sigil can
// fix; Hint says how.
type Error struct {
	Path string
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// InitCA makes a new CA in dir (created with mode 0700 if missing): the key
// in dir/ca.key (PKCS#8 PEM, mode 0600) and the certificate in dir/ca.pem.
// It never overwrites: if either file exists it returns an error that
// errors.Is(err, fs.ErrExist).
func InitCA(dir string, opts Options) (*CA, error) {
	hosts := opts.Hosts
	if len(hosts) == 0 {
		return nil, errors.New("a CA needs the hosts it may mint for (Options.Hosts)")
	}
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	for _, p := range []string{keyPath, certPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, &Error{Path: p, Err: errExist{},
				Hint: "a CA is never overwritten: use it, choose another --dir, or remove the old one yourself (every client that trusts it must then trust the new one)"}
		}
	}
	key, certDER, err := newCA(hosts, time.Now())
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding CA key: %w", err)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("making CA directory: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := atomicfile.Create(keyPath, keyPEM, keyFileMode); err != nil {
		return nil, existError(keyPath, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if err := atomicfile.Create(certPath, certPEM, certFileMode); err != nil {
		// The key is ours, made a moment ago: without its certificate it
		// is useless, and a later init must not find half a CA.
		os.Remove(keyPath)
		return nil, existError(certPath, err)
	}
	return LoadCA(dir)
}

// errExist is fs.ErrExist, worded for a CA file.
type errExist struct{}

func (errExist) Error() string        { return "already exists" }
func (errExist) Is(target error) bool { return target == fs.ErrExist }

func existError(path string, err error) error {
	if errors.Is(err, fs.ErrExist) {
		return &Error{Path: path, Err: errExist{},
			Hint: "a CA is never overwritten: choose another --dir or remove the old one yourself"}
	}
	return err
}

// newCA makes the key and the self-signed certificate of a CA for hosts,
// valid from now (less clockSkew).
func newCA(hosts []string, now time.Time) (*ecdsa.PrivateKey, []byte, error) {
	dns, ips, err := constraints(hosts)
	if err != nil {
		return nil, nil, err
	}
	// P-256: every TLS stack in the path verifies it (PHP's OpenSSL for
	// Composer, Node's OpenSSL for npm, Go), where Ed25519 certificates
	// are still refused by some of them; it is as strong as 3072-bit RSA
	// at a fraction of the size and signing cost.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	// Without an IP constraint X.509 leaves IP addresses unconstrained, so
	// a CA made for names only excludes every IPv4 and IPv6 address.
	var excludedIPs []*net.IPNet
	if len(ips) == 0 {
		excludedIPs = []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// Unique per key, so that two sigil CAs in one bundle are never
		// confused in chain building, and naming who made it, so that a
		// person who finds it in a trust store knows where it came from.
		Subject: pkix.Name{
			Organization:       []string{"sigil forward proxy"},
			OrganizationalUnit: []string{truncate(userAndHost(), 64)}, // ub-organizational-unit-name
			CommonName:         "sigil CA " + hex.EncodeToString(ski[:8]),
		},
		NotBefore: now.Add(-clockSkew),
		NotAfter:  now.Add(caLifetime),

		// A CA signs certificates (and, by RFC 5280, CRLs); nothing else.
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		// Extended key usage in a CA limits every chain through it (Go,
		// OpenSSL and browsers enforce this): a stolen key cannot mint
		// client, code-signing or e-mail certificates, only TLS servers.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},

		BasicConstraintsValid: true,
		IsCA:                  true,
		// Path length 0: it signs leaves only. An intermediate under it
		// would be a second key to protect, and a client that checks name
		// constraints only on the root's direct children (there have been
		// such bugs) could be led around them by one.
		MaxPathLen:     0,
		MaxPathLenZero: true,

		SubjectKeyId: ski,

		// Critical, as RFC 5280 requires: a client that does not
		// understand name constraints must reject the CA rather than
		// trust it for every name.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         dns,
		PermittedIPRanges:           ips,
		ExcludedIPRanges:            excludedIPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("making CA certificate: %w", err)
	}
	return key, der, nil
}

// subjectKeyID is method 1 of RFC 7093: the leftmost 160 bits of the
// SHA-256 hash of the subjectPublicKey bit string (the uncompressed point).
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	b, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding CA public key: %w", err)
	}
	h := sha256.Sum256(b)
	return h[:20], nil
}

// randomSerial returns a positive random serial of serialBits bits.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), serialBits)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// userAndHost names who made the CA, as mkcert does: user@host.
func userAndHost() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return name + "@" + host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// LoadCA reads the CA in dir and checks it before anything is minted with
// it: the key file is not readable by group or others, the certificate is
// a CA limited to leaves (path length 0) and to named hosts (critical name
// constraints), it is valid now, and the key is the certificate's key.
func LoadCA(dir string) (*CA, error) {
	return loadCA(dir, time.Now)
}

func loadCA(dir string, now func() time.Time) (*CA, error) {
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	initHint := fmt.Sprintf("make one with 'sigil ca init --dir %s'", dir)

	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, &Error{Path: certPath, Err: err, Hint: initHint}
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, &Error{Path: certPath, Err: err, Hint: initHint}
	}
	if err := checkCACert(cert, now()); err != nil {
		return nil, &Error{Path: certPath, Err: err,
			Hint: "make a new CA with 'sigil ca init --dir NEWDIR' and trust it instead (see 'sigil ca show --dir NEWDIR')"}
	}

	// Stat follows symlinks: the mode that counts is the file's, also for
	// a key mounted as a symlink (Kubernetes secrets).
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, &Error{Path: keyPath, Err: err, Hint: "the key must be beside ca.pem; " + initHint}
	}
	// Windows has no such mode bits; its ACLs are the user's to set.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, &Error{Path: keyPath,
			Err:  fmt.Errorf("CA key is readable by group or others (mode %04o)", fi.Mode().Perm()),
			Hint: fmt.Sprintf("chmod 600 %s (and make a new CA if others may have read it)", keyPath)}
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, &Error{Path: keyPath, Err: err, Hint: initHint}
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, &Error{Path: keyPath, Err: err, Hint: "the file must hold the PKCS#8 key that 'sigil ca init' wrote"}
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, &Error{Path: keyPath, Err: errors.New("CA key does not match the certificate in " + CertFile),
			Hint: "ca.key and ca.pem must come from the same 'sigil ca init'; restore the pair"}
	}
	return newCAFrom(cert, key, now, leafCacheSize), nil
}

func newCAFrom(cert *x509.Certificate, key crypto.Signer, now func() time.Time, cacheSize int) *CA {
	leaves, err := lru.New[string, *tls.Certificate](cacheSize)
	if err != nil {
		panic(err) // only for a size <= 0, which is a constant here
	}
	return &CA{
		cert:     cert,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		key:      key,
		now:      now,
		leaves:   leaves,
		inflight: map[string]*mint{},
	}
}

// parseCertPEM reads exactly one certificate.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block: the file must hold only the CA certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// parseKeyPEM reads one PKCS#8 private key.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY (PKCS#8) block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return s, nil
}

// checkCACert refuses a certificate that is not a CA sigil would make.
func checkCACert(c *x509.Certificate, now time.Time) error {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return errors.New("not a CA certificate")
	case c.KeyUsage&x509.KeyUsageCertSign == 0:
		return errors.New("CA certificate may not sign certificates (no keyCertSign usage)")
	case c.MaxPathLen != 0:
		return errors.New("CA certificate allows intermediate CAs (path length is not 0)")
	case len(c.PermittedDNSDomains) == 0 || !c.PermittedDNSDomainsCritical:
		return errors.New("CA certificate has no critical name constraints: it could mint for every site")
	case len(c.PermittedIPRanges) == 0 && len(c.ExcludedIPRanges) == 0:
		return errors.New("CA certificate does not constrain IP addresses: it could mint for every address")
	case now.Before(c.NotBefore):
		return fmt.Errorf("CA certificate is not valid before %s (is the clock right?)", c.NotBefore.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return fmt.Errorf("CA certificate expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Certificate returns the CA certificate. The caller must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// PEM returns the CA certificate in PEM: what clients trust.
func (ca *CA) PEM() []byte { return append([]byte(nil), ca.certPEM...) }

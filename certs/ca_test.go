package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestCA(t testing.TB, hosts ...string) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	if len(hosts) == 0 {
		hosts = append([]string{"registry.example.test"}, DefaultArchiveHosts...)
	}
	ca, err := InitCA(dir, Options{Hosts: hosts})
	if err != nil {
		t.Fatalf("InitCA: %v", err)
	}
	return ca, dir
}

func TestInitCACertificate(t *testing.T) {
	ca, dir := newTestCA(t, "Example.TEST.", "registry.example.org", "example.test", "127.0.0.1")
	c := ca.Certificate()

	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v", c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
	}
	if want := []string{"example.test", "registry.example.org"}; !slices.Equal(c.PermittedDNSDomains, want) {
		t.Errorf("PermittedDNSDomains = %q, want %q (canonical, deduplicated)", c.PermittedDNSDomains, want)
	}
	if len(c.PermittedIPRanges) != 1 || c.PermittedIPRanges[0].String() != "127.0.0.1/32" {
		t.Errorf("PermittedIPRanges = %v", c.PermittedIPRanges)
	}
	if want := []string{"example.test", "registry.example.org", "127.0.0.1"}; !slices.Equal(ca.Hosts(), want) {
		t.Errorf("Hosts() = %q, want %q", ca.Hosts(), want)
	}
	oidNameConstraints := asn1.ObjectIdentifier{2, 5, 29, 30}
	critical := false
	for _, e := range c.Extensions {
		if e.Id.Equal(oidNameConstraints) {
			critical = e.Critical
		}
	}
	if !critical {
		t.Error("name constraints extension missing or not critical")
	}
	if len(c.SubjectKeyId) != 20 {
		t.Errorf("SubjectKeyId has %d bytes, want 20", len(c.SubjectKeyId))
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > serialBits {
		t.Errorf("serial %v: want positive, at most %d bits", c.SerialNumber, serialBits)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != caLifetime+clockSkew {
		t.Errorf("validity %v, want %v", got, caLifetime+clockSkew)
	}
	if !strings.HasPrefix(c.Subject.CommonName, "sigil CA ") || len(c.Subject.OrganizationalUnit) != 1 || !strings.Contains(c.Subject.OrganizationalUnit[0], "@") {
		t.Errorf("subject %q: want sigil and user@host", c.Subject)
	}
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("public key %T", c.PublicKey)
	}

	// Two CAs never share a subject.
	other, _ := newTestCA(t, "example.test")
	if other.Certificate().Subject.String() == c.Subject.String() {
		t.Error("two CAs have the same subject")
	}

	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %04o, want 0600", fi.Mode().Perm())
	}
	keyPEM, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("ca.key is not a PKCS#8 PEM key")
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if !bytes.Equal(certPEM, ca.PEM()) || bytes.Contains(certPEM, []byte("PRIVATE")) {
		t.Errorf("ca.pem is not exactly the certificate")
	}
}

func TestInitCARequiresHosts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := InitCA(dir, Options{}); err == nil {
		t.Fatal("InitCA without hosts made a CA that could mint for anything")
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		t.Error("a key was written for a refused CA")
	}
}

func TestInitCAHostsAndSubdomains(t *testing.T) {
	ca, _ := newTestCA(t)
	want := append([]string{"registry.example.test"}, DefaultArchiveHosts...)
	if !slices.Equal(ca.Certificate().PermittedDNSDomains, want) {
		t.Errorf("PermittedDNSDomains = %q, want %q", ca.Certificate().PermittedDNSDomains, want)
	}
	if n := len(ca.Certificate().ExcludedIPRanges); n != 2 {
		t.Errorf("%d excluded IP ranges, want every IPv4 and IPv6 address excluded", n)
	}
	for _, h := range []string{"registry.example.test", "mirror.registry.example.test", "codeload.github.com", "registry.example.test:443"} {
		if err := ca.Permits(h); err != nil {
			t.Errorf("Permits(%q): %v", h, err)
		}
	}
	for _, h := range []string{"github.com", "example.test", "example.com", "127.0.0.1"} {
		if err := ca.Permits(h); !errors.Is(err, ErrNotPermitted) {
			t.Errorf("Permits(%q) = %v, want ErrNotPermitted", h, err)
		}
	}
}

func TestInitCABadHosts(t *testing.T) {
	for _, hosts := range [][]string{
		{"com"},                     // every .com site
		{"co.uk"},                   // a multi-label public suffix
		{"github.io"},               // a private public suffix
		{"127.0.0.1"},               // no DNS name: DNS would be unconstrained
		{"*.example.test"},          // wildcards are not hosts
		{"exa mple.test"},           // not a name
		{"example.test", "0.0.0.0"}, // not a host
		{"-bad.example.test"},
		{"127.0.0.1."}, // an address in disguise
		{""},
	} {
		dir := filepath.Join(t.TempDir(), "ca")
		if _, err := InitCA(dir, Options{Hosts: hosts}); err == nil {
			t.Errorf("InitCA(%q) succeeded", hosts)
		}
		if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
			t.Errorf("InitCA(%q) failed but left a key", hosts)
		}
	}
	// A single label the public suffix list does not know is a local
	// name, not a suffix.
	if _, err := InitCA(filepath.Join(t.TempDir(), "ca"), Options{Hosts: []string{"verdaccio"}}); err != nil {
		t.Errorf("InitCA(verdaccio): %v", err)
	}
}

func TestInitCANeverOverwrites(t *testing.T) {
	_, dir := newTestCA(t, "example.test")
	key, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	cert, _ := os.ReadFile(filepath.Join(dir, CertFile))

	_, err := InitCA(dir, Options{Hosts: []string{"example.test"}})
	var ce *Error
	if !errors.Is(err, fs.ErrExist) || !errors.As(err, &ce) || ce.Hint == "" {
		t.Fatalf("second InitCA: %v, want fs.ErrExist with a hint", err)
	}
	key2, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	cert2, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if !bytes.Equal(key, key2) || !bytes.Equal(cert, cert2) {
		t.Error("second InitCA changed the CA files")
	}

	// Half a CA (only ca.pem) is refused too, and no key is left behind.
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, CertFile), cert, 0o644)
	if _, err := InitCA(dir2, Options{Hosts: []string{"example.test"}}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("InitCA over a lone ca.pem: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, KeyFile)); err == nil {
		t.Error("a key was written beside someone else's ca.pem")
	}
}

func TestLoadCA(t *testing.T) {
	ca, dir := newTestCA(t, "example.test")
	got, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Certificate().Equal(ca.Certificate()) {
		t.Error("LoadCA returned another certificate")
	}
	if _, err := got.Leaf("repo.example.test"); err != nil {
		t.Errorf("Leaf after LoadCA: %v", err)
	}
}

func TestLoadCAMismatchedKey(t *testing.T) {
	_, dir := newTestCA(t, "example.test")
	_, other := newTestCA(t, "example.test")
	keyPath := filepath.Join(dir, KeyFile)
	os.Remove(keyPath)
	k, _ := os.ReadFile(filepath.Join(other, KeyFile))
	if err := os.WriteFile(keyPath, k, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCA(dir)
	var ce *Error
	if err == nil || !strings.Contains(err.Error(), "does not match") || !errors.As(err, &ce) || ce.Hint == "" {
		t.Fatalf("LoadCA with another CA's key: %v", err)
	}
}

func TestLoadCAKeyMode(t *testing.T) {
	_, dir := newTestCA(t, "example.test")
	keyPath := filepath.Join(dir, KeyFile)
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(keyPath, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCA(dir)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(ce.Hint, "chmod 600") {
			t.Errorf("mode %04o: LoadCA = %v, want a hint to chmod 600", mode, err)
		}
	}
	os.Chmod(keyPath, 0o400)
	if _, err := LoadCA(dir); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadCAMissing(t *testing.T) {
	_, err := LoadCA(t.TempDir())
	var ce *Error
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &ce) || !strings.Contains(ce.Hint, "sigil ca init") {
		t.Fatalf("LoadCA of an empty dir: %v", err)
	}
}

// writeCA writes a key and a certificate made from tmpl (self-signed).
func writeCA(t *testing.T, tmpl *x509.Certificate) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writePair(t, key, der)
}

func writePair(t *testing.T, key *ecdsa.PrivateKey, certDER []byte) string {
	t.Helper()
	dir := t.TempDir()
	k, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), 0o600)
	os.WriteFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644)
	return dir
}

func TestLoadCAExpired(t *testing.T) {
	key, der, err := newCA([]string{"example.test"}, time.Now().Add(-caLifetime-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadCA(writePair(t, key, der))
	var ce *Error
	if err == nil || !strings.Contains(err.Error(), "expired") || !errors.As(err, &ce) || !strings.Contains(ce.Hint, "sigil ca init") {
		t.Fatalf("LoadCA of an expired CA: %v", err)
	}
}

func TestLoadCARefusesUnconstrained(t *testing.T) {
	base := func() *x509.Certificate {
		return &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "some CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLenZero:        true,
		}
	}
	noNC := base()
	noIP := base()
	noIP.PermittedDNSDomainsCritical = true
	noIP.PermittedDNSDomains = []string{"example.test"}
	pathLen := base()
	pathLen.MaxPathLen, pathLen.MaxPathLenZero = 1, false
	notCA := base()
	notCA.IsCA, notCA.MaxPathLenZero = false, false
	for name, tmpl := range map[string]*x509.Certificate{
		"no name constraints": noNC, "IPs unconstrained": noIP, "path length 1": pathLen, "not a CA": notCA,
	} {
		if _, err := LoadCA(writeCA(t, tmpl)); err == nil {
			t.Errorf("%s: LoadCA succeeded", name)
		}
	}
}

package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveTLS starts a TLS server on 127.0.0.1 with the given config and
// returns its URL.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = cfg
	// Refused handshakes are expected here: log them to the test.
	srv.Config.ErrorLog = log.New(testWriter{t}, "server: ", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// get fetches url as a client that trusts only ca and expects serverName.
func get(t *testing.T, ca *CA, url, serverName string) error {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "ok" {
		return fmt.Errorf("body %q", body)
	}
	return nil
}

func wantNameConstraintError(t *testing.T, err error) {
	t.Helper()
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.CANotAuthorizedForThisName {
		t.Fatalf("handshake error %v, want x509 CANotAuthorizedForThisName", err)
	}
}

func TestHandshakeAllowedHost(t *testing.T) {
	ca, _ := newTestCA(t, "example.test")
	url := serveTLS(t, &tls.Config{GetCertificate: ca.GetCertificate})
	for _, host := range []string{"example.test", "repo.example.test"} {
		if err := get(t, ca, url, host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

func TestHandshakeAllowedIP(t *testing.T) {
	ca, _ := newTestCA(t, "example.test", "127.0.0.1")
	leaf, err := ca.Leaf("127.0.0.1:443")
	if err != nil {
		t.Fatal(err)
	}
	url := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{*leaf}})
	if err := get(t, ca, url, ""); err != nil {
		t.Fatal(err)
	}
}

func TestHandshakeOutsideConstraints(t *testing.T) {
	ca, _ := newTestCA(t, "example.test")

	// Leaf refuses, before any client sees a certificate.
	for _, host := range []string{"evil.example.org", "notexample.test", "test", "127.0.0.1"} {
		if _, err := ca.Leaf(host); !errors.Is(err, ErrNotPermitted) {
			t.Errorf("Leaf(%q) = %v, want ErrNotPermitted", host, err)
		}
	}

	// And if one were minted anyway (a bug, or a stolen key), the client
	// rejects it because of the CA's name constraints.
	forced, err := ca.mintLeaf("evil.example.org")
	if err != nil {
		t.Fatal(err)
	}
	url := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{*forced}})
	wantNameConstraintError(t, get(t, ca, url, "evil.example.org"))

	// An IP address is excluded when none was named.
	forcedIP, err := ca.mintLeaf("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	url = serveTLS(t, &tls.Config{Certificates: []tls.Certificate{*forcedIP}})
	wantNameConstraintError(t, get(t, ca, url, ""))
}

func TestLeafCertificate(t *testing.T) {
	ca, _ := newTestCA(t, "example.test")
	c, err := ca.Leaf("Repo.Example.Test.")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Leaf
	if len(l.DNSNames) != 1 || l.DNSNames[0] != "repo.example.test" || len(l.IPAddresses) != 0 {
		t.Errorf("SANs %q %v", l.DNSNames, l.IPAddresses)
	}
	if l.IsCA || l.KeyUsage != x509.KeyUsageDigitalSignature || len(l.ExtKeyUsage) != 1 || l.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("usage: IsCA=%v KeyUsage=%v ExtKeyUsage=%v", l.IsCA, l.KeyUsage, l.ExtKeyUsage)
	}
	if got := l.NotAfter.Sub(l.NotBefore); got != leafLifetime+clockSkew {
		t.Errorf("validity %v, want %v", got, leafLifetime+clockSkew)
	}
	if string(l.AuthorityKeyId) != string(ca.Certificate().SubjectKeyId) {
		t.Error("AuthorityKeyId is not the CA's SubjectKeyId")
	}
	if len(c.Certificate) != 1 {
		t.Errorf("chain of %d certificates, want the leaf alone", len(c.Certificate))
	}
	// The same host in another spelling is the same cached leaf.
	if c2, _ := ca.Leaf("repo.example.test:443"); c2 != c {
		t.Error("repo.example.test:443 minted a second leaf")
	}
}

func TestLeafConcurrentMintsOnce(t *testing.T) {
	ca, _ := newTestCA(t, "example.test")
	const n = 64
	var wg sync.WaitGroup
	got := make([]*tls.Certificate, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := ca.Leaf("repo.example.test")
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	close(start)
	wg.Wait()
	if m := ca.minted.Load(); m != 1 {
		t.Errorf("minted %d leaves for one host, want 1", m)
	}
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("caller %d got another certificate", i)
		}
	}
}

func TestLeafCacheBound(t *testing.T) {
	loaded, _ := newTestCA(t, "example.test")
	const size = 4
	ca := newCAFrom(loaded.cert, loaded.key, time.Now, size)
	for i := range 10 {
		if _, err := ca.Leaf(fmt.Sprintf("h%d.example.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	if ca.leaves.Len() != size {
		t.Errorf("cache holds %d leaves, want %d", ca.leaves.Len(), size)
	}
	if m := ca.minted.Load(); m != 10 {
		t.Errorf("minted %d, want 10", m)
	}
	ca.Leaf("h9.example.test") // still cached
	if m := ca.minted.Load(); m != 10 {
		t.Errorf("a cached host was minted again (%d)", m)
	}
	ca.Leaf("h0.example.test") // evicted long ago
	if m := ca.minted.Load(); m != 11 {
		t.Errorf("an evicted host was not minted again (%d)", m)
	}
}

func TestLeafRenewal(t *testing.T) {
	loaded, _ := newTestCA(t, "example.test")
	now := time.Now()
	ca := newCAFrom(loaded.cert, loaded.key, func() time.Time { return now }, leafCacheSize)
	first, _ := ca.Leaf("example.test")
	now = now.Add(leafLifetime - leafRenewBefore - time.Minute)
	if c, _ := ca.Leaf("example.test"); c != first {
		t.Error("a leaf with more than leafRenewBefore left was minted again")
	}
	now = now.Add(2 * time.Minute)
	c, _ := ca.Leaf("example.test")
	if c == first || !c.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Error("a leaf close to expiry was served again")
	}
}

func TestLeafNotAfterCA(t *testing.T) {
	// A CA one hour before its expiry mints leaves that end with it.
	key, der, err := newCA([]string{"example.test"}, time.Now().Add(-caLifetime+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(writePair(t, key, der))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Leaf("example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Errorf("leaf NotAfter %v, CA NotAfter %v", c.Leaf.NotAfter, ca.Certificate().NotAfter)
	}
	if c2, _ := ca.Leaf("example.test"); c2 != c {
		t.Error("a leaf cut at the CA's expiry is minted again on every call")
	}
}

func TestGetCertificateNoSNI(t *testing.T) {
	ca, _ := newTestCA(t, "example.test")
	if _, err := ca.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("GetCertificate without SNI succeeded")
	}
}

// FuzzLeafHost feeds untrusted host names (CONNECT targets, SNI) to the
// constraint check: it never panics, and whatever it permits, a client
// trusting the CA accepts.
func FuzzLeafHost(f *testing.F) {
	for _, s := range []string{
		"example.test", "REPO.Example.TEST.", "repo.example.test:443", "[::1]:443", "::1", "127.0.0.1",
		"evil.test", "a..b", "*.example.test", "xn--bcher-kva.example.test", "a_b.example.test",
		"[fe80::1%25eth0]:443", "", ".", "example.test..", "1.2.3.4.example.test",
	} {
		f.Add(s)
	}
	ca, _ := newTestCA(f, "example.test", "127.0.0.1", "::1")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	f.Fuzz(func(t *testing.T, host string) {
		key, err := ca.permitted(host)
		if err != nil {
			return
		}
		c, err := ca.Leaf(host)
		if err != nil {
			t.Fatalf("permitted %q but Leaf: %v", host, err)
		}
		if _, err := c.Leaf.Verify(x509.VerifyOptions{
			Roots: pool, DNSName: key, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Fatalf("permitted %q (%s) but a client rejects the leaf: %v", host, key, err)
		}
	})
}

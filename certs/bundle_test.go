package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBundle(t *testing.T) {
	ca, _ := newTestCA(t, "example.test")
	root, _ := newTestCA(t, "root.example.org") // stands in for a system root
	roots := filepath.Join(t.TempDir(), "roots.pem")
	var in bytes.Buffer
	in.WriteString("Mozilla's bundle has text between certificates\n")
	in.Write(root.PEM())
	pem.Encode(&in, &pem.Block{Type: "X509 CRL", Bytes: []byte{1, 2, 3}}) // not a certificate: dropped
	os.WriteFile(roots, in.Bytes(), 0o644)
	t.Setenv("SSL_CERT_FILE", roots)

	if got, err := SystemRootsFile(); err != nil || got != roots {
		t.Fatalf("SystemRootsFile = %q, %v", got, err)
	}
	b, err := Bundle(ca)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Errorf("bundle holds a %s block", block.Type)
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 2 || !certs[0].Equal(root.Certificate()) || !certs[1].Equal(ca.Certificate()) {
		t.Errorf("bundle holds %d certificates, want the root then sigil's CA", len(certs))
	}
	if !strings.Contains(string(b), "from "+roots) {
		t.Error("bundle does not say where the roots came from")
	}
	if bytes.Contains(b, []byte("PRIVATE")) {
		t.Error("bundle holds a key")
	}
}

func TestBundleNoRoots(t *testing.T) {
	ca, _ := newTestCA(t, "example.test")
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	if _, err := Bundle(ca); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Bundle with a missing roots file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("nothing here\n"), 0o644)
	t.Setenv("SSL_CERT_FILE", empty)
	var ce *Error
	if _, err := Bundle(ca); !errors.As(err, &ce) || ce.Hint == "" {
		t.Errorf("Bundle with no certificates: %v", err)
	}
}

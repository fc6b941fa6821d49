package certs

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// systemRootFiles are the files that hold a system's trusted roots as one
// PEM bundle: the list Go's crypto/x509 reads on Linux (root_linux.go), in
// its order, then the BSDs' and macOS's. Go itself cannot hand back the
// roots it loaded (a CertPool does not export them), so sigil reads the
// same files.
var systemRootFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7+
	"/etc/ssl/cert.pem",                                 // Alpine, macOS, OpenBSD
	"/usr/local/etc/ssl/cert.pem",                       // FreeBSD
	"/usr/local/share/certs/ca-root-nss.crt",            // FreeBSD (ca_root_nss)
}

// SystemRootsFile returns the file the system's roots are read from:
// $SSL_CERT_FILE when set (Go and OpenSSL, so PHP and Node, honour it too),
// else the first of the usual locations that exists.
func SystemRootsFile() (string, error) {
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		return f, nil
	}
	for _, f := range systemRootFiles {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			return f, nil
		}
	}
	return "", &Error{Path: systemRootFiles[0], Err: fmt.Errorf("no system root certificates found: %w", fs.ErrNotExist),
		Hint: "set SSL_CERT_FILE to a PEM file of the roots to trust (e.g. the ca-certificates package's bundle, or Composer's own cacert.pem)"}
}

// Bundle returns the system's root certificates followed by sigil's CA, in
// PEM. Composer needs it because COMPOSER_CAFILE replaces Composer's CA
// bundle instead of adding to it: with sigil's CA alone, every host sigil
// lets through without intercepting (and Composer's own self-update) would
// fail verification. Only CERTIFICATE blocks of the roots file are kept;
// comment lines name where each part came from.
func Bundle(ca *CA) ([]byte, error) {
	path, err := SystemRootsFile()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Path: path, Err: err, Hint: "set SSL_CERT_FILE to a readable PEM file of the roots to trust"}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# System root certificates, from %s\n", path)
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		pem.Encode(&b, &pem.Block{Type: block.Type, Bytes: block.Bytes}) // a bytes.Buffer does not fail
		n++
	}
	if n == 0 {
		return nil, &Error{Path: path, Err: errors.New("no PEM certificates in the system roots file"),
			Hint: "set SSL_CERT_FILE to a PEM file of the roots to trust"}
	}
	fmt.Fprintf(&b, "# sigil forward-proxy CA: %s\n", ca.cert.Subject.CommonName)
	b.Write(ca.certPEM)
	return b.Bytes(), nil
}

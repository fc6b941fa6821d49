package release

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestIntegrity(t *testing.T) {
	data := []byte("hello, npm\n")
	sum := sha512.Sum512(data)
	want := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])

	got, err := Integrity(bytes.NewReader(data))
	if err != nil || got != want {
		t.Fatalf("Integrity = %q, %v; want %q", got, err, want)
	}
	h := NewIntegrityHash()
	h.Write(data[:3])
	h.Write(data[3:])
	if got := FormatIntegrity(h.Sum(nil)); got != want {
		t.Errorf("streaming = %q, want %q", got, want)
	}
	parsed, err := ParseIntegrity(want)
	if err != nil || !bytes.Equal(parsed, sum[:]) {
		t.Errorf("ParseIntegrity(FormatIntegrity) = %x, %v", parsed, err)
	}
}

func TestParseIntegrity(t *testing.T) {
	a, b := sha512.Sum512([]byte("a")), sha512.Sum512([]byte("b"))
	sa := base64.StdEncoding.EncodeToString(a[:])
	sb := base64.StdEncoding.EncodeToString(b[:])
	good := []string{
		"sha512-" + sa,
		"sha1-deadbeef sha512-" + sa,
		"sha256-xyz\tsha512-" + sa + "?foo=bar\n",
		"sha512-" + strings.TrimRight(sa, "="),
		"sha512-" + sa + " sha512-" + sa,
		"sha384-whatever sha512-" + sa + " md5-x",
	}
	for _, s := range good {
		got, err := ParseIntegrity(s)
		if err != nil || !bytes.Equal(got, a[:]) {
			t.Errorf("ParseIntegrity(%q) = %x, %v", s, got, err)
		}
	}
	bad := []string{
		"",
		"sha1-" + sa,
		"sha512-" + sa + " sha512-" + sb,
		"sha512-" + sa[:40],
		"sha512-!!!",
		"SHA512-" + sa,
		"sha512-" + base64.URLEncoding.EncodeToString(a[:]) + "_-_-",
		strings.Repeat("sha1-x ", 1000),
	}
	for _, s := range bad {
		if got, err := ParseIntegrity(s); !errors.Is(err, ErrIntegrity) {
			t.Errorf("ParseIntegrity(%.40q) = %x, %v; want ErrIntegrity", s, got, err)
		}
	}
}

func TestFormatIntegrityPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a 32-byte sum")
		}
	}()
	FormatIntegrity(make([]byte, 32))
}

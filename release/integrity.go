package release

import (
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// npm names an archive by its Subresource Integrity string: the algorithm,
// a dash, the standard base64 of the digest ("sha512-…"), as in a
// packument's dist.integrity and a statement's archive line. sigil uses
// SHA-512 only: npm has recorded it for tarballs published since npm 5;
// older ones may carry only a SHA-1 shasum, which pins nothing today.

// ErrIntegrity is wrapped by the errors of ParseIntegrity.
var ErrIntegrity = errors.New("invalid integrity")

// maxIntegrity bounds an SRI string: a few entries of under 100 bytes each.
const maxIntegrity = 4 << 10

// NewIntegrityHash returns the hash whose sum FormatIntegrity formats, for
// the proxy to feed while an archive downloads.
func NewIntegrityHash() hash.Hash { return sha512.New() }

// FormatIntegrity formats a SHA-512 sum as "sha512-<base64>". It panics if
// sum is not 64 bytes long, which only a programming error can cause.
func FormatIntegrity(sum []byte) string {
	if len(sum) != sha512.Size {
		panic(fmt.Sprintf("release: FormatIntegrity of a %d-byte sum", len(sum)))
	}
	return "sha512-" + base64.StdEncoding.EncodeToString(sum)
}

// Integrity reads r to its end and returns its "sha512-<base64>" digest.
func Integrity(r io.Reader) (string, error) {
	h := NewIntegrityHash()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("computing integrity: %w", err)
	}
	return FormatIntegrity(h.Sum(nil)), nil
}

// ParseIntegrity returns the SHA-512 digest of an SRI string, which may list
// several digests separated by white space, each possibly followed by
// "?options" (as npm's ssri reads them). Entries of other algorithms are
// skipped. It is an error if no entry is SHA-512, or if two SHA-512 entries
// disagree: a string that matches two different archives pins neither.
func ParseIntegrity(s string) ([]byte, error) {
	if len(s) > maxIntegrity {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrIntegrity, maxIntegrity)
	}
	var found []byte
	for entry := range strings.FieldsSeq(s) {
		alg, digest, ok := strings.Cut(entry, "-")
		if !ok || alg != "sha512" {
			continue
		}
		digest, _, _ = strings.Cut(digest, "?")
		// ssri decodes with Node's lenient base64; accept the padded and
		// the unpadded forms, nothing looser.
		sum, err := base64.StdEncoding.DecodeString(digest)
		if err != nil {
			sum, err = base64.RawStdEncoding.DecodeString(digest)
		}
		if err != nil || len(sum) != sha512.Size {
			return nil, fmt.Errorf("%w: malformed sha512 entry %s", ErrIntegrity, quoteEntry(entry))
		}
		if found != nil && string(found) != string(sum) {
			return nil, fmt.Errorf("%w: two different sha512 digests", ErrIntegrity)
		}
		found = sum
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no sha512 digest in %s", ErrIntegrity, quoteEntry(s))
	}
	return found, nil
}

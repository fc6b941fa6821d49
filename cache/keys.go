package cache

import (
	"encoding/binary"
	"fmt"
)

// Key namespaces. Each starts with the layout version and ends with "/";
// no name contains "/", so no namespace is a prefix of another. What
// follows is fixed-size binary (sha256, chunk numbers) or strings each
// preceded by its length as a uvarint, so two different tuples of strings
// never encode to the same key whatever bytes they hold.
const (
	nsBlobHead  = "v1/blob-head/"  // + sha256 → blobHeader
	nsBlobChunk = "v1/blob-chunk/" // + sha256 + uint64 BE chunk number → bytes
	nsRef       = "v1/ref/"        // + eco, pkg, version, archive → sha256
	nsMeta      = "v1/meta/"       // + key → encoded Meta
	nsPin       = "v1/pin/"        // + eco, pkg, version → encoded pin
	nsServed    = "v1/served/"     // + key → encoded servedState
	nsLog       = "v1/log/"        // + origin + one tag byte + …, see tlog.go
	// nsUsed (evict.go) and nsNPMKeys (npmkeys.go) live beside their code.
)

// Limits on strings that become keys. They come from registries and
// clients, so they are bounded well below Badger's 64 KiB key limit and
// small enough that the LRUs' memory stays predictable.
const (
	maxNameLen = 1024 // ecosystem, package, version, log origin
	maxKeyLen  = 4096 // URLs and other caller-chosen keys
)

// field is one string of a key, with what it is (for errors) and its limit.
type field struct {
	what string
	val  string
	max  int
}

// makeKey encodes ns followed by each field, length-prefixed. Every field
// must be non-empty and within its limit.
func makeKey(ns string, fields ...field) ([]byte, error) {
	n := len(ns)
	for _, f := range fields {
		if f.val == "" {
			return nil, fmt.Errorf("empty %s", f.what)
		}
		if len(f.val) > f.max {
			return nil, fmt.Errorf("%s %.64q… is %d bytes, more than %d", f.what, shownKey(f.val), len(f.val), f.max)
		}
		n += binary.MaxVarintLen64 + len(f.val)
	}
	k := make([]byte, 0, n)
	k = append(k, ns...)
	for _, f := range fields {
		k = appendString(k, f.val)
	}
	return k, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func blobHeadKey(sum [32]byte) []byte {
	return append([]byte(nsBlobHead), sum[:]...)
}

func blobChunkKey(sum [32]byte, n uint64) []byte {
	k := make([]byte, 0, len(nsBlobChunk)+32+8)
	k = append(k, nsBlobChunk...)
	k = append(k, sum[:]...)
	return binary.BigEndian.AppendUint64(k, n)
}

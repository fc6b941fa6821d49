package release

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestTarGzBomb: the same for tarballs, where only the stream can be
// trusted: a header claiming a huge file, and a gzip of zeros that holds
// no entry at all but would inflate to a gigabyte.
func TestTarGzBomb(t *testing.T) {
	zeros := gzipBytes(t, make([]byte, 1<<20))
	gigabyte := bytes.Repeat(zeros, 1024) // gzip members concatenate
	var huge bytes.Buffer
	huge.Write(makeTar(t, []testEntry{{name: "p/ok", body: "ok"}})[:1024]) // a header and its data block
	hdr := makeTar(t, []testEntry{{name: "p/huge", body: "x"}})[:512]
	copy(hdr[124:136], fmt.Sprintf("%011o\x00", int64(10<<30)))
	fixTarChecksum(hdr)
	huge.Write(hdr)
	tests := []struct {
		name string
		data []byte
		lim  Limits
	}{
		{"gigabyte of zeros", gigabyte, Limits{MaxTotalSize: 16 << 20}},
		{"header claims 10 GiB", gzipBytes(t, huge.Bytes()), Limits{}},
		{"empty gzip members", bytes.Repeat(gzipBytes(t, nil), 1<<16), Limits{MaxTotalSize: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			start := time.Now()
			n := allocated(func() { _, err = HashTarGz(bytes.NewReader(tt.data), "", tt.lim) })
			if !errors.Is(err, ErrArchiveLimit) {
				t.Fatalf("err = %v, want ErrArchiveLimit", err)
			}
			if n > 4<<20 {
				t.Errorf("allocated %d bytes", n)
			}
			t.Logf("%v after %v, %d bytes allocated", err, time.Since(start), n)
		})
	}
}

func fixTarChecksum(hdr []byte) {
	copy(hdr[148:156], "        ")
	var sum int64
	for _, c := range hdr[:512] {
		sum += int64(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

func TestTarTrailingData(t *testing.T) {
	tarball := makeTar(t, []testEntry{{name: "p/a", body: "a"}})
	padded := append(tarball, make([]byte, 10240)...)
	if _, err := HashTar(bytes.NewReader(padded), "", Limits{}); err != nil {
		t.Errorf("zero padding: %v", err)
	}
	hidden := append(tarball, makeTar(t, []testEntry{{name: "p/hidden", body: "h"}})...)
	if _, err := HashTar(bytes.NewReader(hidden), "", Limits{}); !errors.Is(err, ErrArchiveFormat) {
		t.Errorf("entry after the end: err = %v, want ErrArchiveFormat", err)
	}
}

func FuzzHashTarGz(f *testing.F) {
	small := map[string]string{"package.json": `{"dependencies":{"a":"1"}}`, "index.js": "module.exports = 1\n", "lib/e": ""}
	f.Add(gzipBytes(f, makeTar(f, entries(small, "package/", sortedNames(small)))))
	f.Add(gzipBytes(f, makeTar(f, []testEntry{{name: "./", kind: 'd'}, {name: "./a/l", body: "../b", kind: 'l'}, {name: "./a/b", body: "x"}})))
	f.Add(gzipBytes(f, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		hash := func() (*ArchiveInfo, error) { return HashTarGz(bytes.NewReader(data), "package.json", fuzzLimits) }
		info, err := hash()
		checkArchiveResult(t, info, err, hash)
	})
}

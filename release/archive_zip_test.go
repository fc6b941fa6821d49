package release

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// allocated returns the bytes f allocates, a bound on the memory it used.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const bombSize = 256 << 20

// zeroDeflate is the raw deflate stream of bombSize zero bytes: about
// 250 KB that inflate a thousandfold.
var zeroDeflate = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	chunk := make([]byte, 1<<20)
	for range bombSize / len(chunk) {
		w.Write(chunk)
	}
	w.Close()
	return buf.Bytes()
})

// rawZip builds a zip of one deflated entry whose header says what the
// caller wants, whatever the data holds.
func rawZip(t testing.TB, fh *zip.FileHeader, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestZipBomb: a zip whose entry inflates far past the limits is refused
// before or while inflating, in bounded memory, whether its header is
// honest or lies. Where the central directory alone must refuse it, the
// entry's data is not deflate at all: inflating it would fail with
// ErrArchiveFormat instead, so the test proves nothing was inflated
// without timing anything.
func TestZipBomb(t *testing.T) {
	data := zeroDeflate()
	zeroCRC := crc32.ChecksumIEEE(make([]byte, bombSize))
	tests := []struct {
		name    string
		claimed uint64
		lim     Limits
		want    error
		garbage bool // the entry's data is not deflate: it must never be inflated
	}{
		// Refused from the central directory: nothing is inflated.
		{"honest header over MaxFileSize", bombSize, Limits{MaxFileSize: 1 << 20}, ErrArchiveLimit, true},
		{"header claims 10 GiB", 10 << 30, Limits{}, ErrArchiveLimit, true},
		// The header claims little: inflating stops one byte past it.
		{"header lies", 100, Limits{}, ErrArchiveFormat, false},
		{"header lies within small limits", 1 << 20, Limits{MaxFileSize: 2 << 20, MaxTotalSize: 2 << 20}, ErrArchiveFormat, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := data
			if tt.garbage {
				body = bytes.Repeat([]byte{0xff}, len(data))
			}
			z := rawZip(t, &zip.FileHeader{
				Name: "bomb/zeros", Method: zip.Deflate, CRC32: zeroCRC,
				CompressedSize64: uint64(len(body)), UncompressedSize64: tt.claimed,
			}, body)
			var err error
			start := time.Now()
			n := allocated(func() { _, err = hashZipBytes(z, "", tt.lim) })
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), `"bomb/zeros"`) {
				t.Fatalf("err = %v, want %v naming the entry", err, tt.want)
			}
			if n > 4<<20 {
				t.Errorf("allocated %d bytes for a %d-byte bomb", n, bombSize)
			}
			t.Logf("%v after %v, %d bytes allocated", err, time.Since(start), n)
		})
	}
}

// TestZipCheckedBeforeData: an unsafe name anywhere in the central
// directory refuses the archive before any entry, bomb or not, inflates.
func TestZipCheckedBeforeData(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	data := zeroDeflate()
	w, _ := zw.CreateRaw(&zip.FileHeader{Name: "p/zeros", Method: zip.Deflate,
		CompressedSize64: uint64(len(data)), UncompressedSize64: 1 << 20})
	w.Write(data)
	w, _ = zw.Create("p/../../.bashrc")
	io.WriteString(w, "evil")
	zw.Close()
	var err error
	n := allocated(func() { _, err = hashZipBytes(buf.Bytes(), "", Limits{}) })
	if !errors.Is(err, ErrArchivePath) || !strings.Contains(err.Error(), `"p/../../.bashrc"`) {
		t.Fatalf("err = %v, want ErrArchivePath naming the entry", err)
	}
	if n > 256<<10 {
		t.Errorf("allocated %d bytes: data was read", n)
	}
}

// TestZip64 reads both zip64 structures: the end record (more than 65535
// entries) and the extra field that carries sizes and offsets.
func TestZip64(t *testing.T) {
	t.Run("end record", func(t *testing.T) {
		tree := map[string]string{}
		var es []testEntry
		for i := range 70000 {
			name := fmt.Sprintf("d%02d/f%05d", i%100, i)
			tree[name] = ""
			es = append(es, testEntry{name: "p/" + name})
		}
		info, err := hashZipBytes(makeZip(t, es, zip.Store), "", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if want := hash1(t, tree); info.Tree != want || info.Files != 70000 {
			t.Errorf("tree %s files %d, want %s", info.Tree, info.Files, want)
		}
	})
	t.Run("extra field", func(t *testing.T) {
		tree := map[string]string{"composer.json": "{}", "src/a.php": "<?php\n"}
		info, err := hashZipBytes(zip64Stored(t, "pkg/", tree), "composer.json", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if want := hash1(t, tree); info.Tree != want || string(info.Manifest) != "{}" {
			t.Errorf("tree %s manifest %q, want %s", info.Tree, info.Manifest, want)
		}
	})
}

// zip64Stored writes a zip of stored entries the way a zip64 writer does
// for large files: 32-bit size and offset fields all ones, the values in
// zip64 extra fields, and the zip64 end record and locator.
func zip64Stored(t testing.TB, prefix string, tree map[string]string) []byte {
	var out, dir bytes.Buffer
	le := binary.LittleEndian
	names := sortedNames(tree)
	for _, n := range names {
		name, body := prefix+n, tree[n]
		off := uint64(out.Len())
		extra := le.AppendUint16(nil, zip64ExtraID)
		extra = le.AppendUint16(extra, 16)
		extra = le.AppendUint64(extra, uint64(len(body)))
		extra = le.AppendUint64(extra, uint64(len(body)))
		crc := crc32.ChecksumIEEE([]byte(body))
		l := le.AppendUint32(nil, zipLocalSig)
		l = le.AppendUint16(l, 45)
		l = le.AppendUint16(l, 0x800)
		l = le.AppendUint16(l, zipMethodStore)
		l = le.AppendUint32(l, 0) // time, date
		l = le.AppendUint32(l, crc)
		l = le.AppendUint32(l, 0xffffffff)
		l = le.AppendUint32(l, 0xffffffff)
		l = le.AppendUint16(l, uint16(len(name)))
		l = le.AppendUint16(l, uint16(len(extra)))
		out.Write(l)
		out.WriteString(name)
		out.Write(extra)
		out.WriteString(body)

		cextra := le.AppendUint16(nil, zip64ExtraID)
		cextra = le.AppendUint16(cextra, 24)
		cextra = le.AppendUint64(cextra, uint64(len(body)))
		cextra = le.AppendUint64(cextra, uint64(len(body)))
		cextra = le.AppendUint64(cextra, off)
		c := le.AppendUint32(nil, zipCentralSig)
		c = le.AppendUint16(c, 3<<8|45)
		c = le.AppendUint16(c, 45)
		c = le.AppendUint16(c, 0x800)
		c = le.AppendUint16(c, zipMethodStore)
		c = le.AppendUint32(c, 0)
		c = le.AppendUint32(c, crc)
		c = le.AppendUint32(c, 0xffffffff)
		c = le.AppendUint32(c, 0xffffffff)
		c = le.AppendUint16(c, uint16(len(name)))
		c = le.AppendUint16(c, uint16(len(cextra)))
		c = le.AppendUint16(c, 0) // comment
		c = le.AppendUint16(c, 0) // disk
		c = le.AppendUint16(c, 0) // internal attributes
		c = le.AppendUint32(c, 0o100644<<16)
		c = le.AppendUint32(c, 0xffffffff)
		dir.Write(c)
		dir.WriteString(name)
		dir.Write(cextra)
	}
	dirOff := uint64(out.Len())
	out.Write(dir.Bytes())
	end64 := uint64(out.Len())
	e := le.AppendUint32(nil, zipEnd64Sig)
	e = le.AppendUint64(e, zipEnd64Len-12)
	e = le.AppendUint16(e, 45)
	e = le.AppendUint16(e, 45)
	e = le.AppendUint32(e, 0)
	e = le.AppendUint32(e, 0)
	e = le.AppendUint64(e, uint64(len(names)))
	e = le.AppendUint64(e, uint64(len(names)))
	e = le.AppendUint64(e, uint64(dir.Len()))
	e = le.AppendUint64(e, dirOff)
	e = le.AppendUint32(e, zipLocator64Sig)
	e = le.AppendUint32(e, 0)
	e = le.AppendUint64(e, end64)
	e = le.AppendUint32(e, 1)
	e = le.AppendUint32(e, zipEndSig)
	e = le.AppendUint32(e, 0)
	e = le.AppendUint16(e, 0xffff)
	e = le.AppendUint16(e, 0xffff)
	e = le.AppendUint32(e, 0xffffffff)
	e = le.AppendUint32(e, 0xffffffff)
	e = le.AppendUint16(e, 0)
	out.Write(e)
	return out.Bytes()
}

// TestZipStrict: what extractors could read differently is refused.
func TestZipStrict(t *testing.T) {
	es := []testEntry{{name: "p/a", body: "aaaa"}, {name: "p/b", body: "bbbb"}}
	// Stored with sizes in the local headers, no data descriptors.
	base := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, e := range es {
			w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte(e.body)),
				CompressedSize64: uint64(len(e.body)), UncompressedSize64: uint64(len(e.body))})
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, e.body)
		}
		zw.Close()
		return buf.Bytes()
	}
	withDescriptors := func() []byte { return makeZip(t, es, zip.Store) }
	central := func(b []byte, i int) int { // offset of the i-th central record
		off := bytes.Index(b, []byte("PK\x01\x02"))
		for ; i > 0; i-- {
			off += zipCentralLen + int(le16(b[off+28:])) + int(le16(b[off+30:])) + int(le16(b[off+32:]))
		}
		return off
	}
	tests := []struct {
		name   string
		patch  func([]byte) []byte
		want   error
		detail string
	}{
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, ErrArchiveFormat, "no end"},
		{"prepended bytes", func(b []byte) []byte { return append([]byte("#!/bin/sh\n"), b...) }, ErrArchiveFormat, "central directory"},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, ErrArchiveFormat, "no end"},
		{"crc mismatch", func(b []byte) []byte { b[bytes.Index(b, []byte("p/bbbbb"))+6] = 'c'; return b }, ErrArchiveFormat, "CRC-32"},
		{"local name differs", func(b []byte) []byte { b[bytes.Index(b, []byte("p/bbbbb"))+2] = 'c'; return b }, ErrArchiveFormat, "local header names"},
		{"encrypted", func(b []byte) []byte { b[central(b, 1)+8] |= 1; return b }, ErrArchiveFormat, "encrypted"},
		{"bzip2", func(b []byte) []byte { b[central(b, 1)+10] = 12; return b }, ErrArchiveFormat, "method 12"},
		{"overlap", func(b []byte) []byte {
			// Entry a's data swallows entry b's local header, as in
			// non-recursive zip bombs.
			c := central(b, 0)
			data := bytes.Index(b, []byte("p/aaaaa")) + 3
			n := int(le32(b[central(b, 1)+42:])) + 4 - data
			for _, h := range []int{c + 16, 14} { // central and local headers
				binary.LittleEndian.PutUint32(b[h:], crc32.ChecksumIEEE(b[data:data+n]))
				binary.LittleEndian.PutUint32(b[h+4:], uint32(n))
				binary.LittleEndian.PutUint32(b[h+8:], uint32(n))
			}
			return b
		}, ErrArchiveFormat, "overlaps"},
		{"two records, one entry", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[central(b, 1)+42:], le32(b[central(b, 0)+42:]))
			return b
		}, ErrArchiveFormat, "overlaps"},
		{"local crc differs", func(b []byte) []byte { b[14]++; return b }, ErrArchiveFormat, "local header disagrees"},
		{"local size differs", func(b []byte) []byte { b[18]++; return b }, ErrArchiveFormat, "local header disagrees"},
		{"descriptor differs", func([]byte) []byte {
			b := withDescriptors()
			b[bytes.Index(b, []byte("PK\x07\x08"))+4]++
			return b
		}, ErrArchiveFormat, "data descriptor disagrees"},
		{"record count lies", func(b []byte) []byte { b[len(b)-12]--; b[len(b)-14]--; return b }, ErrArchiveFormat, "more than its 1 records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range [][]byte{base(), withDescriptors()} {
				if _, err := hashZipBytes(b, "", Limits{}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := hashZipBytes(tt.patch(base()), "", Limits{})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("err = %v, want %v saying %q", err, tt.want, tt.detail)
			}
		})
	}
	t.Run("unicode path field", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		other := "p/evil"
		extra := binary.LittleEndian.AppendUint16(nil, zipUnicodePathID)
		extra = binary.LittleEndian.AppendUint16(extra, uint16(5+len(other)))
		extra = append(append(extra, 1, 0, 0, 0, 0), other...)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "p/good", Extra: extra})
		io.WriteString(w, "x")
		zw.Close()
		if _, err := hashZipBytes(buf.Bytes(), "", Limits{}); !errors.Is(err, ErrArchivePath) {
			t.Fatalf("err = %v, want ErrArchivePath", err)
		}
	})
}

// fuzzLimits keep fuzzing fast; what matters is that they hold.
var fuzzLimits = Limits{MaxEntries: 64, MaxFileSize: 1 << 16, MaxTotalSize: 1 << 18, MaxManifestSize: 1 << 10}

func checkArchiveResult(t *testing.T, info *ArchiveInfo, err error, again func() (*ArchiveInfo, error)) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrArchiveFormat) && !errors.Is(err, ErrArchivePath) && !errors.Is(err, ErrArchiveLimit) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
	} else if info.Files > fuzzLimits.MaxEntries || info.Size > fuzzLimits.MaxTotalSize ||
		int64(len(info.Manifest)) > fuzzLimits.MaxManifestSize || !strings.HasPrefix(info.Tree, "h1:") {
		t.Fatalf("result past limits: %+v", info)
	}
	info2, err2 := again()
	if fmt.Sprint(err) != fmt.Sprint(err2) || (err == nil && (info.Tree != info2.Tree ||
		!bytes.Equal(info.Manifest, info2.Manifest) || info.Files != info2.Files || info.Size != info2.Size)) {
		t.Fatalf("not deterministic: %+v, %v then %+v, %v", info, err, info2, err2)
	}
}

func FuzzHashZip(f *testing.F) {
	small := map[string]string{"composer.json": `{"require":{"a/b":"^1"}}`, "src/A.php": "<?php\n", "e": ""}
	f.Add(makeZip(f, entries(small, "acme-a-1a2b/", sortedNames(small)), zip.Deflate))
	f.Add(makeZip(f, entries(small, "", sortedNames(small)), zip.Store))
	f.Add(makeZip(f, []testEntry{{name: "p/", kind: 'd'}, {name: "p/l", body: "t", kind: 'l'}, {name: "p/t", body: "x"}}, zip.Deflate))
	f.Add(makeZip(f, nil, zip.Store))
	f.Add(zip64Stored(f, "p/", small))
	f.Add(rawZip(f, &zip.FileHeader{Name: "p/s", Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte("s")),
		CompressedSize64: 1, UncompressedSize64: 1}, []byte("s")))
	f.Fuzz(func(t *testing.T, data []byte) {
		hash := func() (*ArchiveInfo, error) { return hashZipBytes(data, "composer.json", fuzzLimits) }
		info, err := hash()
		checkArchiveResult(t, info, err, hash)
		if err == nil {
			if want := stdlibZipTree(t, data); info.Tree != want {
				t.Fatalf("tree %s, archive/zip reads %s", info.Tree, want)
			}
		}
	})
}

// stdlibZipTree hashes what archive/zip reads from an archive HashZip
// accepted: both readers must see the same files.
func stdlibZipTree(t *testing.T, data []byte) string {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		t.Fatalf("HashZip accepts what archive/zip refuses: %v", err)
	}
	tree := map[string]string{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("archive/zip cannot open %q: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("archive/zip cannot read %q: %v", f.Name, err)
		}
		name := f.Name
		for strings.HasPrefix(name, "./") {
			name = name[2:]
		}
		tree[name] = string(b)
	}
	top, shared := "", len(tree) > 0
	for name := range tree {
		first, _, ok := strings.Cut(name, "/")
		if !ok || top != "" && first != top {
			shared = false
		}
		top = first
	}
	if shared {
		stripped := map[string]string{}
		for name, body := range tree {
			stripped[name[len(top)+1:]] = body
		}
		tree = stripped
	}
	return hash1(t, tree)
}

package release

import (
	"bufio"
	"cmp"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
)

// A zip is read from its central directory, which this file parses itself
// rather than through archive/zip: archive/zip keeps every directory record
// it finds, however many the archive holds, before its caller can count
// them. Here the entry count is checked against the limits before a record
// is read, and every name and declared size before any data is.
//
// The reader is strict where extractors disagree, so that what is hashed is
// what any of them would extract: no bytes after the end record, one disk
// only, a central directory that ends where the end record starts, local
// headers that repeat the central directory's name and method, entries that
// do not overlap (the trick of non-recursive zip bombs), no encryption, and
// a Unicode path extra field (Info-ZIP's 0x7075, preferred by unzip) only if
// it repeats the name.

// Record signatures, lengths and extra field ids, from PKWARE's APPNOTE.TXT.
const (
	zipLocalSig       = 0x04034b50
	zipCentralSig     = 0x02014b50
	zipEndSig         = 0x06054b50
	zipEnd64Sig       = 0x06064b50
	zipLocator64Sig   = 0x07064b50
	zipLocalLen       = 30
	zipCentralLen     = 46
	zipEndLen         = 22
	zipEnd64Len       = 56
	zipLocator64Len   = 20
	zipMaxComment     = 0xffff
	zip64ExtraID      = 0x0001
	zipUnicodePathID  = 0x7075
	zipFlagEncrypted  = 0x1
	zipFlagDescriptor = 0x8
	zipLocalFlags     = zipFlagEncrypted | zipFlagDescriptor // must match in both headers
	zipDescriptorSig  = 0x08074b50
	zipMethodStore    = 0
	zipMethodDeflate  = 8
	zipCreatorUnix    = 3
	zipCreatorMacOSX  = 19
	zipDOSDirectory   = 0x10
	unixTypeMask      = 0o170000
	unixTypeRegular   = 0o100000
	unixTypeDirectory = 0o040000
	unixTypeSymlink   = 0o120000
)

// zipDir is where the central directory lies, from the end record.
type zipDir struct {
	offset, size, records uint64
	end                   uint64 // offset of the end record that follows it
}

// zipEntry is one central directory record, checked.
type zipEntry struct {
	name         string
	kind         entryKind
	method       uint16
	flags        uint16
	crc          uint32
	csize, usize uint64
	offset       uint64 // of the local header
	file         int    // index in the treeBuilder; -1 for a directory
}

// HashZip hashes the zip archive of size bytes in r. See ArchiveInfo for
// what it returns and Limits for what it reads. Entries must be stored or
// deflated; zip64 is supported.
func HashZip(r io.ReaderAt, size int64, manifestName string, lim Limits) (*ArchiveInfo, error) {
	t := newTreeBuilder(manifestName, lim)
	d, err := readZipEnd(r, size)
	if err != nil {
		return nil, err
	}
	if d.records > uint64(t.lim.MaxEntries) {
		return nil, fmt.Errorf("%w: %d entries, more than %d", ErrArchiveLimit, d.records, t.lim.MaxEntries)
	}
	entries, err := readZipDirectory(r, d, t)
	if err != nil {
		return nil, err
	}
	if err := t.checkNames(); err != nil {
		return nil, err
	}
	// In offset order, so that overlapping entries show.
	slices.SortFunc(entries, func(a, b zipEntry) int { return cmp.Compare(a.offset, b.offset) })
	z := &zipReader{r: r, t: t, dirOffset: d.offset}
	var next uint64
	for i := range entries {
		if next, err = z.read(&entries[i], next); err != nil {
			return nil, err
		}
	}
	return t.finish()
}

// readAtFull reads len(b) bytes at off; a short read is a format error.
func readAtFull(r io.ReaderAt, b []byte, off int64, what string) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("%w: zip: truncated %s", ErrArchiveFormat, what)
	}
	return fmt.Errorf("reading zip %s: %w", what, err)
}

func zipFormatError(format string, args ...any) error {
	return fmt.Errorf("%w: zip: %s", ErrArchiveFormat, fmt.Sprintf(format, args...))
}

// readZipEnd finds the end record, which must end the file exactly, and
// the zip64 end record if the end record defers to it.
func readZipEnd(r io.ReaderAt, size int64) (zipDir, error) {
	if size < zipEndLen {
		return zipDir{}, zipFormatError("too short")
	}
	tail := make([]byte, min(size, zipEndLen+zipMaxComment))
	tailOff := size - int64(len(tail))
	if err := readAtFull(r, tail, tailOff, "end record"); err != nil {
		return zipDir{}, err
	}
	i := len(tail) - zipEndLen
	for ; i >= 0; i-- {
		if le32(tail[i:]) == zipEndSig && i+zipEndLen+int(le16(tail[i+20:])) == len(tail) {
			break
		}
	}
	if i < 0 {
		return zipDir{}, zipFormatError("no end of central directory record")
	}
	b := tail[i:]
	d := zipDir{
		records: uint64(le16(b[10:])),
		size:    uint64(le32(b[12:])),
		offset:  uint64(le32(b[16:])),
		end:     uint64(tailOff) + uint64(i),
	}
	if d.records == 0xffff || d.size == 0xffffffff || d.offset == 0xffffffff {
		var err error
		if d, err = readZip64End(r, d.end); err != nil {
			return zipDir{}, err
		}
	} else if le16(b[4:]) != 0 || le16(b[6:]) != 0 || uint64(le16(b[8:])) != d.records {
		return zipDir{}, zipFormatError("multi-disk archives are not supported")
	}
	if d.offset > d.end || d.size != d.end-d.offset {
		return zipDir{}, zipFormatError("central directory does not end where the end record starts")
	}
	if d.records > d.size/zipCentralLen {
		return zipDir{}, zipFormatError("%d records cannot fit in a %d-byte central directory", d.records, d.size)
	}
	return d, nil
}

// readZip64End reads the zip64 locator just before the end record at end,
// and the zip64 end record it points to, which must end where the locator
// starts.
func readZip64End(r io.ReaderAt, end uint64) (zipDir, error) {
	if end < zipLocator64Len+zipEnd64Len {
		return zipDir{}, zipFormatError("no zip64 end record")
	}
	locOff := end - zipLocator64Len
	var loc [zipLocator64Len]byte
	if err := readAtFull(r, loc[:], int64(locOff), "zip64 locator"); err != nil {
		return zipDir{}, err
	}
	if le32(loc[:]) != zipLocator64Sig {
		return zipDir{}, zipFormatError("no zip64 locator")
	}
	if le32(loc[4:]) != 0 || le32(loc[16:]) > 1 {
		return zipDir{}, zipFormatError("multi-disk archives are not supported")
	}
	off := le64(loc[8:])
	if off > locOff-zipEnd64Len {
		return zipDir{}, zipFormatError("zip64 end record outside the archive")
	}
	var b [zipEnd64Len]byte
	if err := readAtFull(r, b[:], int64(off), "zip64 end record"); err != nil {
		return zipDir{}, err
	}
	if le32(b[:]) != zipEnd64Sig || le64(b[4:]) != locOff-off-12 {
		return zipDir{}, zipFormatError("bad zip64 end record")
	}
	if le32(b[16:]) != 0 || le32(b[20:]) != 0 || le64(b[24:]) != le64(b[32:]) {
		return zipDir{}, zipFormatError("multi-disk archives are not supported")
	}
	return zipDir{records: le64(b[32:]), size: le64(b[40:]), offset: le64(b[48:]), end: off}, nil
}

// readZipDirectory reads and checks every central directory record: names
// through the treeBuilder, declared sizes against the limits.
func readZipDirectory(r io.ReaderAt, d zipDir, t *treeBuilder) ([]zipEntry, error) {
	br := bufio.NewReader(io.NewSectionReader(r, int64(d.offset), int64(d.size)))
	entries := make([]zipEntry, 0, d.records)
	var fixed [zipCentralLen]byte
	var buf []byte
	var total uint64
	for n := range d.records {
		if _, err := io.ReadFull(br, fixed[:]); err != nil {
			return nil, zipFormatError("central directory record %d: %v", n, err)
		}
		b := fixed[:]
		if le32(b) != zipCentralSig {
			return nil, zipFormatError("central directory record %d: bad signature", n)
		}
		nameLen, extraLen, commentLen := int(le16(b[28:])), int(le16(b[30:])), int(le16(b[32:]))
		if nameLen > maxNameLen {
			return nil, fmt.Errorf("%w: zip: entry %d: name longer than %d bytes", ErrArchiveLimit, n, maxNameLen)
		}
		buf = slices.Grow(buf[:0], nameLen+extraLen)[:nameLen+extraLen]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, zipFormatError("central directory record %d: %v", n, err)
		}
		if _, err := br.Discard(commentLen); err != nil {
			return nil, zipFormatError("central directory record %d: %v", n, err)
		}
		e := zipEntry{
			name:   string(buf[:nameLen]),
			method: le16(b[10:]),
			flags:  le16(b[8:]),
			crc:    le32(b[16:]),
			csize:  uint64(le32(b[20:])),
			usize:  uint64(le32(b[24:])),
			offset: uint64(le32(b[42:])),
		}
		if err := e.parseExtra(buf[nameLen:]); err != nil {
			return nil, err
		}
		if err := e.check(le16(b[4:]), le32(b[38:])); err != nil {
			return nil, err
		}
		var err error
		if e.file, err = t.add(e.name, e.kind, int64(e.usize)); err != nil {
			return nil, err
		}
		if total += e.usize; total > uint64(t.lim.MaxTotalSize) {
			return nil, entryError(e.name, ErrArchiveLimit, "sizes add up to more than %d bytes", t.lim.MaxTotalSize)
		}
		entries = append(entries, e)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, zipFormatError("central directory holds more than its %d records", d.records)
	}
	return entries, nil
}

// parseExtra applies the zip64 extra field, which holds the sizes and
// offset that did not fit in 32 bits (in this order, each only if its
// 32-bit field is all ones), and checks the Unicode path field.
func (e *zipEntry) parseExtra(extra []byte) error {
	for len(extra) >= 4 {
		id, n := le16(extra), int(le16(extra[2:]))
		if n > len(extra)-4 {
			return entryError(e.name, ErrArchiveFormat, "truncated extra field")
		}
		field := extra[4 : 4+n]
		extra = extra[4+n:]
		switch id {
		case zip64ExtraID:
			for _, v := range []*uint64{&e.usize, &e.csize, &e.offset} {
				if *v != 0xffffffff {
					continue
				}
				if len(field) < 8 {
					return entryError(e.name, ErrArchiveFormat, "truncated zip64 extra field")
				}
				*v, field = le64(field), field[8:]
			}
		case zipUnicodePathID:
			// version (1), CRC-32 of the header name (4), UTF-8 name
			if len(field) < 5 || string(field[5:]) != e.name {
				return entryError(e.name, ErrArchivePath, "Unicode path extra field names another path")
			}
		}
	}
	if len(extra) != 0 {
		return entryError(e.name, ErrArchiveFormat, "truncated extra field")
	}
	return nil
}

// check validates what the record says about the entry and sets its kind.
func (e *zipEntry) check(madeBy uint16, external uint32) error {
	if e.flags&zipFlagEncrypted != 0 {
		return entryError(e.name, ErrArchiveFormat, "encrypted")
	}
	if e.method != zipMethodStore && e.method != zipMethodDeflate {
		return entryError(e.name, ErrArchiveFormat, "compression method %d is not supported (only stored and deflate)", e.method)
	}
	if e.method == zipMethodStore && e.csize != e.usize {
		return entryError(e.name, ErrArchiveFormat, "stored entry of %d bytes holds %d", e.usize, e.csize)
	}
	kind, err := zipKind(e.name, madeBy, external)
	if err != nil {
		return err
	}
	if kind == kindDir && e.usize != 0 {
		return entryError(e.name, ErrArchiveFormat, "directory with %d bytes of data", e.usize)
	}
	e.kind = kind
	return nil
}

// zipKind tells a file, symlink or directory apart. A directory is an
// entry whose name ends in "/", as every extractor agrees; the mode (the
// Unix st_mode in the high half of the external attributes when a Unix or
// macOS tool made the entry, else the MS-DOS attribute byte) may say so too,
// and must not say so alone. The mode also marks symlinks and devices.
func zipKind(name string, madeBy uint16, external uint32) (entryKind, error) {
	kind, modeDir := kindFile, false
	if strings.HasSuffix(name, "/") {
		kind = kindDir
	}
	if c := madeBy >> 8; c == zipCreatorUnix || c == zipCreatorMacOSX {
		switch mode := external >> 16; mode & unixTypeMask {
		case 0, unixTypeRegular:
		case unixTypeDirectory:
			modeDir = true
		case unixTypeSymlink:
			if kind == kindDir {
				return 0, entryError(name, ErrArchiveFormat, "symlink named as a directory")
			}
			kind = kindSymlink
		default:
			return 0, entryError(name, ErrArchivePath, "device, fifo or socket (mode %o)", mode)
		}
	} else {
		modeDir = external&zipDOSDirectory != 0
	}
	if modeDir && kind != kindDir {
		return 0, entryError(name, ErrArchiveFormat, "directory mode on a name without a trailing slash")
	}
	return kind, nil
}

// zipReader reads entry data, reusing one inflater and its buffers.
type zipReader struct {
	r         io.ReaderAt
	t         *treeBuilder
	dirOffset uint64
	br        *bufio.Reader
	inflater  io.ReadCloser
}

// read checks the local header of e, which must start at or after next
// (the end of the previous entry), hashes its data, and returns where the
// entry ends.
func (z *zipReader) read(e *zipEntry, next uint64) (uint64, error) {
	if e.offset < next {
		return 0, entryError(e.name, ErrArchiveFormat, "overlaps the previous entry")
	}
	start, err := z.checkLocalHeader(e)
	if err != nil {
		return 0, err
	}
	if start > z.dirOffset || e.csize > z.dirOffset-start {
		return 0, entryError(e.name, ErrArchiveFormat, "data runs into the central directory")
	}
	end := start + e.csize
	if e.flags&zipFlagDescriptor != 0 {
		if end, err = z.checkDescriptor(e, end); err != nil {
			return 0, err
		}
	}
	if e.file < 0 {
		return end, nil
	}
	var src io.Reader = io.NewSectionReader(z.r, int64(start), int64(e.csize))
	if e.method == zipMethodDeflate {
		src = z.inflate(src)
	}
	cr := &crcReader{r: src}
	n, err := z.t.hash(e.file, cr, e.kind, int64(e.usize))
	if err != nil {
		return 0, err
	}
	if uint64(n) > e.usize {
		return 0, entryError(e.name, ErrArchiveFormat, "holds more than the %d bytes its header says", e.usize)
	}
	if uint64(n) < e.usize {
		return 0, entryError(e.name, ErrArchiveFormat, "holds %d bytes, its header says %d", n, e.usize)
	}
	if cr.crc != e.crc {
		return 0, entryError(e.name, ErrArchiveFormat, "CRC-32 mismatch")
	}
	return end, nil
}

// checkLocalHeader checks that the local header of e repeats what the
// central directory says, and returns where the entry's data starts.
func (z *zipReader) checkLocalHeader(e *zipEntry) (uint64, error) {
	if e.offset > z.dirOffset || z.dirOffset-e.offset < zipLocalLen {
		return 0, entryError(e.name, ErrArchiveFormat, "local header outside the archive's data")
	}
	var h [zipLocalLen]byte
	if err := readAtFull(z.r, h[:], int64(e.offset), "local header"); err != nil {
		return 0, err
	}
	nameLen, extraLen := uint64(le16(h[26:])), uint64(le16(h[28:]))
	disagree := le32(h[:]) != zipLocalSig || le16(h[6:])&zipLocalFlags != e.flags&zipLocalFlags ||
		le16(h[8:]) != e.method || nameLen != uint64(len(e.name))
	// Without a data descriptor the local header repeats CRC and sizes
	// (all ones for zip64, whose extra field is not read twice).
	if e.flags&zipFlagDescriptor == 0 {
		disagree = disagree || le32(h[14:]) != e.crc ||
			!sameSize(le32(h[18:]), e.csize) || !sameSize(le32(h[22:]), e.usize)
	}
	if disagree {
		return 0, entryError(e.name, ErrArchiveFormat, "local header disagrees with the central directory")
	}
	name := make([]byte, nameLen)
	if err := readAtFull(z.r, name, int64(e.offset+zipLocalLen), "local header"); err != nil {
		return 0, err
	}
	if string(name) != e.name {
		return 0, entryError(e.name, ErrArchiveFormat, "local header names %s", quoteEntry(string(name)))
	}
	return e.offset + zipLocalLen + nameLen + extraLen, nil
}

// checkDescriptor reads the data descriptor that follows data ending at
// end, as a streaming extractor would, and checks its CRC against the
// central directory's, as archive/zip does. Its sizes are 4 or 8 bytes
// wide, which only zip64 fields tell; they are not checked. It returns the
// end of the shortest descriptor.
func (z *zipReader) checkDescriptor(e *zipEntry, end uint64) (uint64, error) {
	var d [12]byte
	if end > z.dirOffset || z.dirOffset-end < uint64(len(d)) {
		return 0, entryError(e.name, ErrArchiveFormat, "data descriptor runs into the central directory")
	}
	if err := readAtFull(z.r, d[:], int64(end), "data descriptor"); err != nil {
		return 0, err
	}
	b := d[:]
	if le32(b) == zipDescriptorSig { // the signature is optional
		b = b[4:]
		end += 4
	}
	if le32(b) != e.crc {
		return 0, entryError(e.name, ErrArchiveFormat, "data descriptor disagrees with the central directory")
	}
	return end + 12, nil
}

func sameSize(local uint32, central uint64) bool {
	return local == 0xffffffff || uint64(local) == central
}

func (z *zipReader) inflate(src io.Reader) io.Reader {
	if z.br == nil {
		z.br = bufio.NewReaderSize(src, 32<<10)
		z.inflater = flate.NewReader(z.br)
		return z.inflater
	}
	z.br.Reset(src)
	z.inflater.(flate.Resetter).Reset(z.br, nil)
	return z.inflater
}

// crcReader computes the CRC-32 of what it reads, and marks a corrupt or
// truncated deflate stream as a format error.
type crcReader struct {
	r   io.Reader
	crc uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	var corrupt flate.CorruptInputError
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &corrupt) {
		err = fmt.Errorf("%w: deflate: %w", ErrArchiveFormat, err)
	}
	return n, err
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

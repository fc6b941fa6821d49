package release

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// HashTar hashes a plain tar archive, such as `git archive --format=tar`
// writes, as it streams from r. See ArchiveInfo for what it returns and
// Limits for what it reads. Pax global headers (git archive's commit id)
// are skipped; hard links, devices, fifos and sparse files are refused.
// The stream must end with tar's end-of-archive blocks, and anything after
// them must be zero padding: an entry hidden after the end would be seen by
// some extractors and not by others.
func HashTar(r io.Reader, manifestName string, lim Limits) (*ArchiveInfo, error) {
	lim = lim.withDefaults()
	return hashTarStream(newCountingReader(r, lim.MaxTotalSize, "tar stream"), manifestName, lim)
}

// HashTarGz hashes a gzip-compressed tar archive (an npm tarball) as it
// streams from r. Both the compressed input and the tar stream inside count
// against MaxTotalSize, so neither a bomb nor an endless run of empty gzip
// members can keep it reading.
func HashTarGz(r io.Reader, manifestName string, lim Limits) (*ArchiveInfo, error) {
	lim = lim.withDefaults()
	zr, err := gzip.NewReader(newCountingReader(r, lim.MaxTotalSize, "compressed input"))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %w", ErrArchiveFormat, err)
	}
	return hashTarStream(newCountingReader(zr, lim.MaxTotalSize, "tar stream"), manifestName, lim)
}

func hashTarStream(cr *countingReader, manifestName string, lim Limits) (*ArchiveInfo, error) {
	t := newTreeBuilder(manifestName, lim)
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// With GODEBUG tarinsecurepath=0, archive/tar flags names that
		// are not local; the checks below refuse them, naming the entry.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return nil, tarError(err)
		}
		if err := t.tarEntry(tr, hdr); err != nil {
			return nil, err
		}
	}
	if err := drainZeros(cr); err != nil {
		return nil, err
	}
	return t.finish()
}

// tarEntry checks and hashes one entry.
func (t *treeBuilder) tarEntry(tr *tar.Reader, hdr *tar.Header) error {
	var kind entryKind
	switch hdr.Typeflag {
	case tar.TypeReg: // archive/tar reports the legacy '\x00' as TypeReg
		kind = kindFile
	case tar.TypeSymlink:
		kind = kindSymlink
	case tar.TypeDir:
		kind = kindDir
	case tar.TypeXGlobalHeader:
		return t.countEntry(hdr.Name)
	case tar.TypeLink:
		return entryError(hdr.Name, ErrArchivePath, "hard link to %s", quoteEntry(hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return entryError(hdr.Name, ErrArchivePath, "device or fifo (type %q)", hdr.Typeflag)
	default:
		return entryError(hdr.Name, ErrArchiveFormat, "unsupported entry type %q", hdr.Typeflag)
	}
	if kind != kindFile && hdr.Size != 0 {
		return entryError(hdr.Name, ErrArchiveFormat, "%s with %d bytes of data", kind, hdr.Size)
	}
	declared := hdr.Size
	if kind == kindSymlink {
		declared = int64(len(hdr.Linkname))
	}
	i, err := t.add(hdr.Name, kind, declared)
	if err != nil || kind == kindDir {
		return err
	}
	var src io.Reader = tr
	if kind == kindSymlink {
		src = strings.NewReader(hdr.Linkname)
	}
	n, err := t.hash(i, src, kind, declared)
	if err != nil {
		return tarError(err)
	}
	if n != declared {
		return entryError(hdr.Name, ErrArchiveFormat, "read %d bytes, header says %d", n, declared)
	}
	return nil
}

// tarError marks errors of archive/tar as format errors; our own (limits
// from the counting reader, entry errors) pass as they are.
func tarError(err error) error {
	if errors.Is(err, ErrArchiveLimit) || errors.Is(err, ErrArchiveFormat) || errors.Is(err, ErrArchivePath) {
		return err
	}
	return fmt.Errorf("%w: tar: %w", ErrArchiveFormat, err)
}

// drainZeros reads what follows tar's end-of-archive blocks, which must be
// zero padding (tar and git archive round up to a record size).
func drainZeros(r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return fmt.Errorf("%w: data after the end of the tar archive", ErrArchiveFormat)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return tarError(err)
		}
	}
}

// countingReader fails, with ErrArchiveLimit, a stream that goes on past
// max bytes, so that limits hold on what is read rather than on what
// headers claim.
type countingReader struct {
	r    io.Reader
	n    int64
	max  int64
	what string
}

func newCountingReader(r io.Reader, max int64, what string) *countingReader {
	return &countingReader{r: r, max: max, what: what}
}

func (c *countingReader) Read(p []byte) (int, error) {
	if room := c.max - c.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, fmt.Errorf("%w: %s exceeds %d bytes", ErrArchiveLimit, c.what, c.max)
	}
	return n, err
}

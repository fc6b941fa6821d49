//go:build linux

package cache

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile reads this process's resident file-backed memory, in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestBlobPagesGiveBack: storing and serving archives does not leave the
// value log's pages in sigil's resident memory. Without dropMapped, the
// 48 MiB written stay resident, and so do they once read back.
func TestBlobPagesGiveBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDisk(t, dir)
	const size = 48 << 20
	data, sum := content(7, size)
	before := rssFile(t)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	afterPut := rssFile(t)
	// Reopened, the value log is mapped afresh: reading maps it again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir)
	defer s.Close()
	reopened := rssFile(t)
	for _, copyOut := range []func(b *Blob, w io.Writer) (int64, error){
		func(b *Blob, w io.Writer) (int64, error) { return io.Copy(w, struct{ io.Reader }{b}) }, // Read
		func(b *Blob, w io.Writer) (int64, error) { return b.WriteTo(w) },
	} {
		b, err := s.OpenBlob(ctx, sum)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.Grow(size)
		if _, err := copyOut(b, &got); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatal("the blob read back differs")
		}
	}
	afterRead := rssFile(t)
	t.Logf("before %d put %d reopened %d read %d MiB", before>>20, afterPut>>20, reopened>>20, afterRead>>20)
	const slack = 8 << 20 // Badger's own tables and write-ahead logs
	if grew := afterPut - before; grew > slack {
		t.Errorf("storing a %d MiB blob left %d MiB of file pages resident", size>>20, grew>>20)
	}
	// Opening replays the value log, which maps it; reading the blob back
	// gives those pages back too.
	if grew := afterRead - before; grew > slack {
		t.Errorf("reopening and reading a %d MiB blob back left %d MiB of file pages resident", size>>20, grew>>20)
	}
}

// TestMetaPagesGiveBack: storing a large metadata document does not leave
// its value log pages resident either.
func TestMetaPagesGiveBack(t *testing.T) {
	ctx := context.Background()
	s := openDisk(t, t.TempDir())
	defer s.Close()
	body, _ := content(9, 12<<20)
	before := rssFile(t)
	for i := range 3 {
		if err := s.PutMeta(ctx, "https://registry.test/big-"+strconv.Itoa(i), Meta{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	if grew := rssFile(t) - before; grew > 8<<20 {
		t.Errorf("storing 36 MiB of documents left %d MiB of file pages resident", grew>>20)
	}
}

// TestBlobPagesKeptUnderLimit: under Options.KeepMappedUnder a blob read
// keeps its pages mapped, so that serving it again costs no page faults;
// over it (here a limit any process is over), reads give them back. The
// value log is reopened before each, so that its pages are not mapped
// yet.
func TestBlobPagesKeptUnderLimit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const size = 32 << 20
	data, sum := content(11, size)
	s := openDisk(t, dir)
	if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	read := func(keepUnder int64) int64 {
		s, err := Open(dir, Options{Logger: testLogger(t), KeepMappedUnder: keepUnder})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Opening replays the value log: count from after it.
		before := rssFile(t)
		for range 2 {
			b, err := s.OpenBlob(ctx, sum)
			if err != nil {
				t.Fatal(err)
			}
			n, err := b.WriteTo(io.Discard)
			b.Close()
			if err != nil || n != size {
				t.Fatalf("read %d bytes, %v", n, err)
			}
		}
		return rssFile(t) - before
	}
	if grew := read(1); grew > 8<<20 {
		t.Errorf("over the limit, reading a %d MiB blob left %d MiB resident", size>>20, grew>>20)
	}
	if grew := read(1 << 40); grew < size/2 {
		t.Errorf("under the limit, reading a %d MiB blob left only %d MiB resident: its pages were given back", size>>20, grew>>20)
	}
}

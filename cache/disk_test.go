package cache

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// diskUsage is what the files under dir take on disk: allocated blocks,
// as du counts them (Badger's files are sparse until written), and the
// sum of their lengths.
func diskUsage(t testing.TB, dir string) (allocated, apparent int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile (a value-log file rewritten)
		}
		apparent += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		} else {
			allocated += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return allocated, apparent
}

// treeAllowance is what Badger's tree of small records and its logs take
// in these tests, on top of the value log.
const treeAllowance = 16 << 20

// TestDiskStaysFlatUnderCap: archives stored and evicted round after round
// (six times the cap in all) leave the directory within the documented
// bound: twice the cap, plus two value-log files, plus the tree. Before
// evictions compacted their deletions away, the value log kept every
// byte ever stored (192 MiB here). With interleaved use, every other
// archive is served again each round, so that eviction leaves value-log
// files half used: the case the factor of two is for.
func TestDiskStaysFlatUnderCap(t *testing.T) {
	for _, interleaved := range []bool{false, true} {
		t.Run(fmt.Sprintf("interleaved=%v", interleaved), func(t *testing.T) {
			testDiskStaysFlatUnderCap(t, interleaved)
		})
	}
}

func testDiskStaysFlatUnderCap(t *testing.T, interleaved bool) {
	const (
		capSize = 32 << 20
		blob    = 2 << 20
		round   = 4
		rounds  = 24
	)
	bound := 2*capSize + 2*valueLogFileSize(capSize) + treeAllowance
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: testLogger(t), MaxSize: capSize})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.now = c.now
	ctx := t.Context()
	var peak int64
	var sums [][32]byte
	for r := range rounds {
		for i := range round {
			name := fmt.Sprintf("r%d-%d", r, i)
			data, sum := content(seedOf(name), blob)
			if err := s.PutBlob(ctx, sum, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutArchiveRefIfAbsent(ctx, archiveKey(name), sum); err != nil {
				t.Fatal(err)
			}
			sums = append(sums, sum)
		}
		c.add(2 * touchEvery)
		if interleaved {
			for i := len(sums) - 2; i >= 0 && i >= len(sums)-3*round; i -= 2 {
				if b, err := s.OpenBlob(ctx, sums[i]); err == nil {
					b.Close()
				}
			}
			c.add(time.Second)
		}
		// The store evicts on its own too; this one waits for it.
		if err := s.evict(ctx); err != nil {
			t.Fatal(err)
		}
		used, _ := s.Usage()
		disk, apparent := diskUsage(t, dir)
		peak = max(peak, disk)
		if r%8 == 7 {
			t.Logf("round %d: %d MiB stored in all, %d MiB cached, %d MiB on disk (%d MiB apparent)",
				r, (r+1)*round*blob>>20, used>>20, disk>>20, apparent>>20)
		}
		if disk > bound {
			t.Fatalf("round %d: %d MiB stored in all under a cap of %d MiB: the directory takes %d MiB, over the bound of %d MiB",
				r, (r+1)*round*blob>>20, capSize>>20, disk>>20, bound>>20)
		}
	}
	t.Logf("peak on disk: %d MiB for a cap of %d MiB (bound %d MiB)", peak>>20, capSize>>20, bound>>20)
	// Every archive still there reads whole.
	if err := s.evict(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range round {
		name := fmt.Sprintf("r%d-%d", rounds-1, i)
		data, sum := content(seedOf(name), blob)
		b, err := s.OpenBlob(ctx, sum)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := readAll(t, b); !bytes.Equal(got, data) {
			t.Errorf("%s reads %d bytes, not what was stored", name, len(got))
		}
		b.Close()
	}
}

// TestDiskStaysFlatReplacingDocuments: documents in the value log replaced
// again and again (an upstream that keeps publishing) leave the directory
// flat once the periodic GC ran, with no cap to evict anything.
func TestDiskStaysFlatReplacingDocuments(t *testing.T) {
	const (
		docs = 4
		size = 1 << 20
	)
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: testLogger(t), GCInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bound := int64(2*docs*size) + 2*valueLogFileSize(0) + treeAllowance
	ctx := t.Context()
	for r := range 100 {
		for i := range docs {
			body, _ := content(uint64(r*docs+i), size)
			if err := s.PutMeta(ctx, fmt.Sprintf("https://registry.test/doc%d", i), Meta{Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		if r%10 == 9 {
			s.periodicGC(ctx)
			disk, _ := diskUsage(t, dir)
			t.Logf("round %d: %d MiB written in all, %d MiB on disk", r, (r+1)*docs*size>>20, disk>>20)
			if disk > bound {
				t.Fatalf("round %d: %d MiB of documents, %d MiB written in all: the directory takes %d MiB, over %d MiB",
					r, docs*size>>20, (r+1)*docs*size>>20, disk>>20, bound>>20)
			}
		}
	}
	for i := range docs {
		body, _ := content(uint64(99*docs+i), size)
		m, err := s.GetMeta(ctx, fmt.Sprintf("https://registry.test/doc%d", i))
		if err != nil || !bytes.Equal(m.Body, body) {
			t.Errorf("doc%d after the GC: %d bytes, %v", i, len(m.Body), err)
		}
	}
}

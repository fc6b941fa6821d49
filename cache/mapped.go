package cache

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Badger reads and writes its value log through shared file mappings, and
// every page of one that sigil touched stays in its resident set until the
// kernel runs short of memory: installing a gigabyte of archives once
// showed 430 MB of resident value log next to the heap. Those pages are
// page cache, owned by the file, not by sigil; so after a blob chunk is
// copied out of the mapping (Blob) or written and synced (PutBlob), the
// whole pages it spans are given back with MADV_DONTNEED. On a shared file
// mapping that drops the process's page table entries only: the data stays
// in the page cache (and on disk), and the next read maps it again.
//
// Mapping the pages again costs a page fault for each few of them, and
// giving them back a system call: serving a warm archive over loopback,
// that was half the CPU. So a blob read (which writes from the mapping;
// a document read copies out, and always gives back) gives its pages back
// only while the process's resident memory is over
// Options.KeepMappedUnder, or its resident file pages (the binary's and
// Badger's tables' included) over maxKeptFilePages: under both, the
// archives served most stay mapped, as a static server's stay in the page
// cache; over either (a large install filling the heap, or many archives
// read), each read gives back what it mapped. Pages kept while under stay
// kept when the heap grows later, but maxKeptFilePages bounds them. The
// sizes are read from /proc/self/statm every readCheckBytes of value
// read, or readCheckEvery, whichever comes first.
//
// A page is given back only when it lies in a mapping of a value log file
// of this store, as /proc/self/maps lists them, in a value at least as
// large as the value threshold (which Badger never keeps inline), and
// while Badger holds that file's read lock (inside Item.Value), so the
// file can be neither unmapped nor truncated meanwhile. Memory of any
// other kind (the heap, an in-memory store) is never touched: the list of
// mappings may be a second old, but a value that large is in the value
// log whatever the list says, and there the range is mapped for as long
// as the lock is held.

// dropValues gives back the pages of the values of keys, just written:
// Badger wrote them through the value log's mapping (mapped.go).
func (s *Store) dropValues(keys ...[]byte) {
	if s.vmaps == nil {
		return
	}
	_ = s.db.View(func(txn *badger.Txn) error {
		for _, k := range keys {
			item, err := txn.Get(k)
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error { s.vmaps.dropMapped(v); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropRead gives back the pages of v, a value just read, when the
// resident size says so (keepRead). Call it only inside Item.Value, after
// the last use of v.
func (m *valueLogMaps) dropRead(v []byte) {
	if m == nil || len(v) < valueThreshold || m.keepRead(len(v)) {
		return
	}
	m.dropMapped(v)
}

// valueLogMaps knows the address ranges of the store's value log mappings,
// and whether a read gives its pages back.
type valueLogMaps struct {
	dir        string // absolute path of the store's directory
	keepUnder  int64  // Options.KeepMappedUnder
	sinceCheck atomic.Int64
	checked    atomic.Int64 // unix nanoseconds of the last check
	over       atomic.Bool  // at it, over keepUnder or maxKeptFilePages

	mu     sync.Mutex
	ranges [][2]uintptr // [start, end) of each value log mapping
	read   time.Time    // when /proc/self/maps was last read
}

// rereadEvery bounds how often a miss reads /proc/self/maps again: a new
// value log file is mapped every few dozen megabytes written, not more.
const rereadEvery = time.Second

// How often a read looks at the resident size (see above): at a gigabyte a
// second, a few milliseconds of reads.
const (
	readCheckBytes = 4 << 20
	readCheckEvery = 100 * time.Millisecond
)

// maxKeptFilePages bounds the resident file pages under which a read keeps
// its value log pages: sigil's binary takes about a third of it.
const maxKeptFilePages = 64 << 20

// newValueLogMaps returns the value log mappings of a store in dir, or nil
// for a store in memory (dir ""); reads give their pages back over
// keepUnder bytes of resident memory (0: always).
func newValueLogMaps(dir string, keepUnder int64) *valueLogMaps {
	if dir == "" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	m := &valueLogMaps{dir: abs, keepUnder: keepUnder}
	m.over.Store(true) // until the first check says otherwise
	return m
}

// keepRead reports whether a read of n bytes keeps its pages mapped: the
// resident memory was under keepUnder, and its file pages under
// maxKeptFilePages, when last looked at, which it is again when due.
func (m *valueLogMaps) keepRead(n int) bool {
	if m.keepUnder <= 0 {
		return false
	}
	now := time.Now().UnixNano()
	last := m.checked.Load()
	if m.sinceCheck.Add(int64(n)) >= readCheckBytes || now-last >= int64(readCheckEvery) {
		// One reader looks; the others go by the last look.
		if m.checked.CompareAndSwap(last, now) {
			m.sinceCheck.Store(0)
			rss, file, ok := residentBytes()
			m.over.Store(!ok || rss > m.keepUnder || file > maxKeptFilePages)
		}
	}
	return !m.over.Load()
}

// covers reports whether [a, b) lies within one value log mapping.
func (m *valueLogMaps) covers(a, b uintptr) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if within(m.ranges, a, b) {
		return true
	}
	if time.Since(m.read) < rereadEvery {
		return false
	}
	m.read = time.Now()
	m.ranges = m.readMaps()
	return within(m.ranges, a, b)
}

func within(ranges [][2]uintptr, a, b uintptr) bool {
	for _, r := range ranges {
		if r[0] <= a && b <= r[1] {
			return true
		}
	}
	return false
}

// readMaps lists the mappings of "*.vlog" files in the store's directory.
func (m *valueLogMaps) readMaps() [][2]uintptr {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][2]uintptr
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// "start-end perms offset dev inode    path"
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 || !bytes.HasSuffix(fields[5], []byte(".vlog")) ||
			filepath.Dir(string(fields[5])) != m.dir {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, [2]uintptr{uintptr(start), uintptr(end)})
	}
	return out
}

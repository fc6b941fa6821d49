//go:build linux

package cache

import (
	"bytes"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

var pageSize = uintptr(os.Getpagesize())

// dropMapped gives back the whole pages of v, a value just read from or
// written to the value log (see mapped.go). Call it only inside
// Item.Value, after the last use of v.
func (m *valueLogMaps) dropMapped(v []byte) {
	// Badger keeps a value this large in the value log, never inline in
	// its tables or memtables (heap memory): with the check of the
	// mappings, two reasons that v is a value log page.
	if m == nil || len(v) < valueThreshold {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	a := (start + pageSize - 1) &^ (pageSize - 1)
	b := (start + uintptr(len(v))) &^ (pageSize - 1)
	if b <= a || !m.covers(a, b) {
		return
	}
	// Advice only: on failure the pages stay resident, as before.
	_ = unix.Madvise(v[a-start:b-start], unix.MADV_DONTNEED)
}

// residentBytes is the process's resident memory and the part of it that
// is file pages (the binary's, Badger's tables' and value log's), from
// /proc/self/statm (its second and third fields, in pages); false if it
// cannot be read.
func residentBytes() (rss, file int64, ok bool) {
	fd, err := unix.Open("/proc/self/statm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, false
	}
	defer unix.Close(fd)
	var buf [128]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return 0, 0, false
	}
	f := bytes.Fields(buf[:n])
	if len(f) < 3 {
		return 0, 0, false
	}
	r, err1 := strconv.ParseInt(string(f[1]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return r * int64(pageSize), s * int64(pageSize), true
}

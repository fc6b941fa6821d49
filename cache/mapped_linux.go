//go:build linux

package cache

import (
	"os"
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

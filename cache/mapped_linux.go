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
	if m == nil || uintptr(len(v)) < 2*pageSize {
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

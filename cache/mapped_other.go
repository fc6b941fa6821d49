//go:build !linux

package cache

// dropMapped does nothing where /proc/self/maps does not tell the value
// log's mappings apart.
func (m *valueLogMaps) dropMapped(v []byte) {}

package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// defaultCacheMaxSize is --cache-max-size when none is given: room for
// thousands of typical archives and their metadata, small enough for a
// laptop's disk.
const defaultCacheMaxSize = "10GiB"

// sizeUnits are the suffixes parseSize takes: decimal (KB = 1000) and
// binary (KiB = 1024), as disk sizes are written both ways.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseSize reads a size such as 10GB, 512MiB, 1.5GiB or 1048576 (bytes).
// Units are case-insensitive; "0" means no limit.
func parseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(num) > len(u.suffix) && strings.EqualFold(num[len(num)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("size %q: want a number and a unit, like 10GB or 512MiB", s)
	}
	n := f * float64(mult)
	if n >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(n), nil
}

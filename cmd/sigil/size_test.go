package main

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"10GB": 10e9, "512MiB": 512 << 20, "1.5GiB": 3 << 29, "1048576": 1 << 20,
		"64 kib": 64 << 10, "2tb": 2e12, "0": 0, "100B": 100, " 7MB ": 7e6,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1GB", "10XB", "1e400", "NaN", "ten"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

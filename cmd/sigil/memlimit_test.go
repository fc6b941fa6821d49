package main

import (
	"io"
	"log/slog"
	"testing"
)

// TestMemoryLimitFollowsLiveHeap: the soft limit never falls under the
// live heap plus room for one budget of documents, so a full set of caches
// cannot make the collector run without pause; and it comes back to the
// base when the heap shrinks.
func TestMemoryLimitFollowsLiveHeap(t *testing.T) {
	const mib = 1 << 20
	var set []int64
	m := &memLimiter{base: 128 * mib, room: 64 * mib, logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		set: func(n int64) int64 { set = append(set, n); return 0 }}
	m.observe(0)
	for _, tc := range []struct {
		live, want int64
	}{
		{20 * mib, 128 * mib},       // a small heap: the base
		{64 * mib, 128 * mib},       // live + room = base
		{131 * mib, 200 * mib},      // full caches (measured): above the live heap, rounded to 8 MiB
		{131*mib + 4096, 200 * mib}, // a few bytes more: no new limit
		{40 * mib, 128 * mib},       // the heap shrank: the base again
	} {
		m.observe(tc.live)
		if got := set[len(set)-1]; got != tc.want {
			t.Errorf("live %d MiB: limit %d MiB, want %d MiB", tc.live/mib, got/mib, tc.want/mib)
		}
		if last := set[len(set)-1]; last < tc.live+m.room && last != m.base {
			t.Errorf("live %d MiB: limit %d MiB leaves less than a budget of room", tc.live/mib, last/mib)
		}
	}
	if len(set) != 3 {
		t.Errorf("the limit was set %d times (%v), want 3: only when it changes", len(set), set)
	}
}

package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// sigil gives the Go runtime a soft memory limit: the metadata budget plus
// 64 MiB for what sigil keeps (documents in memory, parsed and rendered;
// Badger's memtables and caches) and the rest (connections, stacks). With
// the default budget that is 128 MiB, which holds an install of 350 npm
// packages in under 200 MB of resident memory, file pages included. Near
// the limit the garbage collector runs more often instead of letting the
// heap double, which is what keeps a burst of huge documents (each takes
// about three times its size while it is parsed, filtered and served) in
// bounds. GOMEMLIMIT, when set, wins.
//
// The limit must stay above the live heap. What sigil keeps is bounded, but
// with every cache full (an install of a thousand packages fills them) the
// live heap can pass a fixed 128 MiB, and then the collector runs without
// pause, idle or not, up to the half of the CPU Go allows it: a sigil
// measured doing twenty collections a second, idle, after such an
// install. So the limit follows the live heap: never under the base, and
// always a budget's worth of room above what the last collection found
// live. It is soft: sigil never fails for it.

// memLimitRoom is what the base limit adds to the metadata budget.
const memLimitRoom = 64 << 20

// memLimitStep rounds the limit up, so that a live heap that moves by a
// few kilobytes does not set a new limit on every check.
const memLimitStep = 8 << 20

// memLimitEvery is how often the live heap is read.
const memLimitEvery = 5 * time.Second

type memLimiter struct {
	base, room int64
	set        func(int64) int64 // debug.SetMemoryLimit
	last       int64
	logger     *slog.Logger
}

// setMemoryLimit sets the base limit and returns what keeps it above the
// live heap (run it with follow), or nil when GOMEMLIMIT decides.
func setMemoryLimit(budget int64, logger *slog.Logger) *memLimiter {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	m := &memLimiter{base: budget + memLimitRoom, room: budget, set: debug.SetMemoryLimit, logger: logger}
	m.observe(0)
	return m
}

// limitFor is the limit for a live heap of live bytes.
func (m *memLimiter) limitFor(live int64) int64 {
	want := live + m.room
	want = (want + memLimitStep - 1) / memLimitStep * memLimitStep
	return max(m.base, want)
}

// observe sets the limit for a live heap of live bytes, when it changes.
func (m *memLimiter) observe(live int64) {
	if want := m.limitFor(live); want != m.last {
		m.set(want)
		if m.last != 0 {
			m.logger.Debug("Go memory limit follows the live heap", "live_bytes", live, "limit_bytes", want)
		}
		m.last = want
	}
}

// follow reads the live heap every memLimitEvery until ctx ends.
func (m *memLimiter) follow(ctx context.Context) {
	if m == nil {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(memLimitEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			m.observe(int64(sample[0].Value.Uint64()))
		}
	}
}

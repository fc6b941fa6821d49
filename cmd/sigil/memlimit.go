package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// setMemoryLimit gives the Go runtime a soft memory limit that follows the
// metadata budget: three times it (a document being parsed, filtered and
// served takes about three times its size: the body, what was parsed of
// it, what is served) plus 128 MiB for everything else (Badger's memtables
// and block cache, connections). With the default budget that is 320 MiB.
// Near the limit the garbage collector runs more often instead of letting
// the heap double, which is what keeps a burst of huge documents within a
// few hundred megabytes. It is soft: sigil never fails for it. GOMEMLIMIT,
// when set, wins.
func setMemoryLimit(budget int64, logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := 3*budget + 128<<20
	debug.SetMemoryLimit(limit)
	logger.Debug("Go memory limit set", "bytes", limit)
}

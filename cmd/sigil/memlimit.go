package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// setMemoryLimit gives the Go runtime a soft memory limit: the metadata
// budget plus 64 MiB for what sigil keeps (documents in memory, parsed and
// rendered, about 50 MiB when an npm install's are kept; Badger's memtable)
// and the rest (connections, stacks). With the default budget that is
// 128 MiB, which holds an install of 350 npm packages in about 180 MB of
// resident memory, file pages included. Near the limit the garbage
// collector runs more often instead of letting the heap double. It is
// soft: sigil never fails for it, and a burst of huge documents (each
// takes about three times its size while it is parsed, filtered and
// served) makes the collector work harder, up to half the CPU, rather than
// fail. GOMEMLIMIT, when set, wins.
func setMemoryLimit(budget int64, logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := budget + 64<<20
	debug.SetMemoryLimit(limit)
	logger.Debug("Go memory limit set", "bytes", limit)
}
